// flashmem-ui-fixture OUT.fmtrace [--pages N] [--steps N] [--copies N] [--traces-synth]: writes the
// profiler's synthetic session (tests/synth_fixture.h) for screenshots, the README image and the
// benchmark, or with --traces-synth the runtime-like run of traces/synth.h.

#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "profiler-ui/tests/synth_fixture.h"
#include "traces/synth.h"

int main(int argc, char** argv) {
  CLI::App app{"write the flashmem-ui synthetic fixture trace"};
  fm::ui::testing::FixtureConfig cfg;
  std::string out;
  app.add_option("out", out, "output .fmtrace")->required();
  app.add_option("--pages", cfg.pages, "pages of the main request (4096 = 1M tokens)");
  app.add_option("--steps", cfg.steps, "decode steps");
  app.add_option("--copies", cfg.copies_per_cycle, "copies per tau-cycle");
  bool traces_synth = false;
  app.add_flag("--traces-synth", traces_synth, "write traces' own synthetic run (flashmem trace synth) instead");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (cfg.pages < 8 || cfg.pages > (1u << 20) || cfg.steps < 1 || cfg.steps > 10'000'000) {
    std::fprintf(stderr, "flashmem-ui-fixture: --pages must be in [8, 2^20], --steps in [1, 1e7]\n");
    return 2;
  }
  if (traces_synth) {
    fm::traces::SynthOptions opt;
    opt.out_path = out;
    opt.pages = cfg.pages;
    opt.steps = cfg.steps;
    absl::StatusOr<fm::traces::SynthSummary> r = fm::traces::WriteSynthTrace(opt);
    if (!r.ok()) {
      std::fprintf(stderr, "flashmem-ui-fixture: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    return 0;
  }
  const absl::Status s = fm::ui::testing::WriteFixtureFile(cfg, out);
  if (!s.ok()) {
    std::fprintf(stderr, "flashmem-ui-fixture: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
