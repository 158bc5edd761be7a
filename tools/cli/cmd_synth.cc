// `flashmem synth --preset tiny|small|flash-slice --out DIR [--layers N] [--weights bf16|fp8]
//  [--seed S] [--shards K]`: writes a synthetic DeepSeek-V4 checkpoint (runtime/weights/synth.h).

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "runtime/weights/synth.h"
#include "tools/cli/commands.h"

namespace fm::cli {
namespace {

struct SynthFlags {
  rt::SynthOptions options;
  std::string out;
  // Numbers are taken as text and parsed here, so a malformed value is a usage error (exit 2)
  // with a message naming the flag, like every other bad value.
  std::string layers = "0";
  std::string seed = "1";
  std::string shards = "1";
};

int RunSynth(SynthFlags& f) {
  auto bad = [](const char* flag, const std::string& v, const char* expected) {
    std::fprintf(stderr, "flashmem synth: %s=%s: expected %s\n", flag, v.c_str(), expected);
    return 2;
  };
  if (!absl::SimpleAtoi(f.layers, &f.options.layers))
    return bad("--layers", f.layers, "an integer");
  if (!absl::SimpleAtoi(f.seed, &f.options.seed))
    return bad("--seed", f.seed, "an unsigned integer");
  if (!absl::SimpleAtoi(f.shards, &f.options.shards))
    return bad("--shards", f.shards, "an integer");
  if (absl::StatusOr<rt::ModelConfig> config = rt::SynthConfig(f.options); !config.ok()) {
    std::fprintf(stderr, "flashmem %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (absl::Status s = rt::WriteSynthCheckpoint(f.options, f.out); !s.ok()) {
    std::fprintf(stderr, "flashmem synth: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("wrote %s checkpoint (%s weights, seed %llu) to %s\n", f.options.preset.c_str(),
              f.options.weights.c_str(), static_cast<unsigned long long>(f.options.seed),
              f.out.c_str());
  return 0;
}

void AddSynthCommand(CLI::App& root, Action* action) {
  auto f = std::make_shared<SynthFlags>();
  CLI::App* cmd = root.add_subcommand(
      "synth",
      "Write a synthetic V4 checkpoint (tiny: tests, small: demo, flash-slice: real dims)");
  cmd->add_option("--preset", f->options.preset, "tiny | small | flash-slice")
      ->capture_default_str();
  cmd->add_option("--out", f->out, "output directory (created if missing)")->required();
  cmd->add_option("--layers", f->layers, "flash-slice decoder layers (default 2)");
  cmd->add_option("--weights", f->options.weights, "bf16 | fp8 (FP8 linears, MXFP4 experts)")
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "random seed")->capture_default_str();
  cmd->add_option("--shards", f->shards, "number of safetensors shards")->capture_default_str();
  cmd->callback([action, f] { *action = [f] { return RunSynth(*f); }; });
}

}  // namespace

FM_REGISTER_COMMAND(AddSynthCommand);

}  // namespace fm::cli
