// `flashmem plan [--gpu h20|h100|h200|custom] [--context 64K,256K,1M] [--json] [--explain]
//  [--plot PREFIX] ...`: the capacity planner (tools/plan, DESIGN.md §2). Prints, per context
// length, bytes per token by component, GPU bytes per request with and without LSA, cold-pool
// bytes, max concurrency both ways, bytes moved per cycle, the link GB/s needed, and what limits.

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "tools/cli/commands.h"
#include "tools/plan/plan_model.h"
#include "tools/plan/plan_report.h"

namespace fm::cli {
namespace {

struct PlanFlags {
  std::string config;
  std::string gpu = "h20";
  double gpu_memory_gb = 0;  // custom GPU, or override of a preset
  double link_gbps = 0;
  std::string contexts = "64K,128K,256K,512K,1M";
  double host_memory_gb = 1500;
  bool json = false;
  bool explain = false;
  std::string plot;
  plan::PlanInputs in;
};

// "64K" -> 65536, "1M" -> 1048576, "100000" -> 100000. False on anything else.
bool ParseTokens(absl::string_view s, int64_t* out) {
  s = absl::StripAsciiWhitespace(s);
  int64_t mult = 1;
  if (!s.empty() && (s.back() == 'K' || s.back() == 'k')) mult = 1024;
  if (!s.empty() && (s.back() == 'M' || s.back() == 'm')) mult = 1024 * 1024;
  if (mult != 1) s.remove_suffix(1);
  double v = 0;
  if (!absl::SimpleAtod(s, &v) || !(v > 0) || v * mult > 1e12) return false;
  *out = static_cast<int64_t>(v * mult);
  return true;
}

int RunPlan(PlanFlags& f) {
  if (f.explain) {
    std::fputs(plan::PlanExplanation().c_str(), stdout);
    return 0;
  }
  plan::ModelSpec model;
  if (!f.config.empty()) {
    absl::StatusOr<plan::ModelSpec> m = plan::LoadModelSpec(f.config);
    if (!m.ok()) {
      std::fprintf(stderr, "flashmem plan: --config=%s: %s\n", f.config.c_str(),
                   std::string(m.status().message()).c_str());
      return 2;
    }
    model = *m;
  }
  if (absl::AsciiStrToLower(f.gpu) == "custom") {
    if (!(f.gpu_memory_gb > 0) || !(f.link_gbps > 0)) {
      std::fprintf(stderr,
                   "flashmem plan: --gpu=custom needs --gpu-memory-gb > 0 and --link-gbps > 0 "
                   "(got %g and %g)\n",
                   f.gpu_memory_gb, f.link_gbps);
      return 2;
    }
    f.in.gpu = plan::GpuSpec{"custom", static_cast<int64_t>(f.gpu_memory_gb * 1e9), f.link_gbps};
  } else {
    absl::StatusOr<plan::GpuSpec> g = plan::GpuPreset(f.gpu);
    if (!g.ok()) {
      std::fprintf(stderr, "flashmem plan: --gpu=%s: %s\n", f.gpu.c_str(),
                   std::string(g.status().message()).c_str());
      return 2;
    }
    f.in.gpu = *g;
    if (f.gpu_memory_gb != 0) f.in.gpu.memory_bytes = static_cast<int64_t>(f.gpu_memory_gb * 1e9);
    if (f.link_gbps != 0) f.in.gpu.link_gbps = f.link_gbps;
  }
  f.in.host_memory_bytes = f.host_memory_gb * 1e9;
  std::vector<int64_t> contexts;
  for (absl::string_view part : absl::StrSplit(f.contexts, ',')) {
    int64_t t = 0;
    if (!ParseTokens(part, &t)) {
      std::fprintf(stderr,
                   "flashmem plan: --context=%s: '%s' is not a positive token count (e.g. 65536, "
                   "64K, 1M)\n",
                   f.contexts.c_str(), std::string(part).c_str());
      return 2;
    }
    contexts.push_back(t);
  }
  std::vector<plan::PlanRow> rows;
  for (int64_t t : contexts) {
    absl::StatusOr<plan::PlanRow> r = plan::ComputePlanRow(model, f.in, t);
    if (!r.ok()) {
      std::fprintf(stderr, "flashmem plan: %s\n", std::string(r.status().message()).c_str());
      return 2;
    }
    rows.push_back(*r);
  }
  if (f.json) {
    std::printf("%s\n", plan::PlanToJson(model, f.in, rows).dump(2).c_str());
  } else {
    std::fputs(plan::FormatPlanTable(model, f.in, rows).c_str(), stdout);
  }
  if (!f.plot.empty()) {
    if (absl::Status s = plan::WritePlanPlots(rows, f.plot); !s.ok()) {
      std::fprintf(stderr, "flashmem plan: --plot=%s: %s\n", f.plot.c_str(),
                   std::string(s.message()).c_str());
      return 1;
    }
    std::fprintf(stderr, "wrote %s_bytes.svg and %s_concurrency.svg\n", f.plot.c_str(),
                 f.plot.c_str());
  }
  return 0;
}

void AddPlanCommand(CLI::App& root, Action* action) {
  auto f = std::make_shared<PlanFlags>();
  CLI::App* cmd = root.add_subcommand(
      "plan", "Capacity planner: GPU/host bytes, concurrency and link needs with and without LSA");
  cmd->add_option("--config", f->config, "model config.json (default: DeepSeek-V4-Flash)");
  cmd->add_option("--gpu", f->gpu, "h20 (96 GB) | h100 (80 GB) | h200 (141 GB) | custom")
      ->capture_default_str();
  cmd->add_option("--gpu-memory-gb", f->gpu_memory_gb, "GPU memory in GB (custom, or override)");
  cmd->add_option("--link-gbps", f->link_gbps, "host-to-GPU GB/s (default 50, PCIe Gen5)");
  cmd->add_option("--tp", f->in.tp, "GPUs per replica (TP degree)")->capture_default_str();
  cmd->add_option("--mem-fraction", f->in.mem_fraction, "GPU memory share for weights + KV")
      ->capture_default_str();
  cmd->add_option("--context", f->contexts, "context lengths, comma-separated (64K, 1M, 100000)")
      ->capture_default_str();
  cmd->add_option("--tau", f->in.tau_steps, "Level-1 cycle in steps")->capture_default_str();
  cmd->add_option("--kmax", f->in.kmax_pages, "fixed KMAX pages (0 = rule 96/192/384)")
      ->capture_default_str();
  cmd->add_option("--kmax-ratio", f->in.kmax_ratio, "KMAX = ceil(ratio x pages) when > 0");
  cmd->add_option("--headroom", f->in.headroom, "hot-pool headroom")->capture_default_str();
  cmd->add_option("--churn", f->in.churn, "share of learned pages replaced per cycle")
      ->capture_default_str();
  cmd->add_option("--tpot-ms", f->in.tpot_ms, "target time per output token")
      ->capture_default_str();
  cmd->add_option("--publish-delay", f->in.publish_delay_steps, "Δ: steps the copies may take")
      ->capture_default_str();
  cmd->add_option("--batch", f->in.batch, "requests decoding together (0 = LSA max)");
  cmd->add_option("--host-memory-gb", f->host_memory_gb, "pinned host memory per node")
      ->capture_default_str();
  cmd->add_option("--swa-ratio", f->in.swa_ratio, "SGLang swa_full_tokens_ratio (admission)")
      ->capture_default_str();
  cmd->add_flag("--paged-index-keys", f->in.paged_index_keys, "Path-I: index keys in slots");
  cmd->add_flag("--json", f->json, "print JSON (bytes per token in bytes, sizes in bytes)");
  cmd->add_flag("--explain", f->explain, "explain every term and exit");
  cmd->add_option("--plot", f->plot, "write PREFIX_bytes.svg and PREFIX_concurrency.svg");
  cmd->callback([f, action] { *action = [f] { return RunPlan(*f); }; });
}

}  // namespace
FM_REGISTER_COMMAND(AddPlanCommand);
}  // namespace fm::cli
