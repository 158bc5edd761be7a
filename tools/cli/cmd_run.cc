// `flashmem run --model DIR [--context N] [--decode N] [--requests B]
//  [--mode full|lsa|recency|random|oracle] [--indexer FILE] [--tau 64] [--delta 8] [--threshold 0.5]
//  [--kmax auto|N] [--tail-chunks N] [--page-chunks 64] [--link pcie5|GBps,latency_us]
//  [--trace FILE [--record-scores]] [--telemetry[=unix|unix:PATH|tcp:PORT] [--telemetry-bind-any]]
//  [--prompt-file FILE] [--real-prefill] [--measure-coverage auto|on|off]
//  [--kv fp8|fp32] [--threads N] [--seed S] [--json]`
// Batched LSA decode on the CPU backend (runtime/engine): B requests of N context tokens each
// decode --decode tokens; a progress bar goes to stderr and the summary to stdout.
// The prompt: --prompt-file bytes as token ids (byte mod vocab, repeated or cut to N: flashmem has
// no tokenizer), else random tokens, else (N > 4096 without --real-prefill) a synthetic context
// (Sequence::FillSyntheticContext: realistic cost, meaningless logits).
// --mode oracle: each table's pages are those that a full-attention twin of the request, decoding
// its own greedy tokens τ + Δ steps ahead, picks in the steps the table serves (one more decode per
// step; EngineConfig in runtime/engine/engine_types.h).
// --record-scores (lsa mode, with --trace) also writes what `flashmem tune` replays: Scores frames
// at each Level-1 boundary and Labels frames with the shadow's Level-2 picks at each step (the
// full-attention shadow is turned on). A synthetic context records no Scores for its first cycle.
// --telemetry serves the live stream to `flashmem-ui --connect ADDR` (DESIGN.md §7 Connection; the
// address is printed on stderr): a Unix socket <pid>.sock in the private socket folder by default,
// unix:PATH, or tcp:PORT on 127.0.0.1 (all interfaces with --telemetry-bind-any). The profiler's
// controls (tau, delta, threshold, kmax, tail, pause) apply at each request's next cycle boundary.
// With --trace as well, the file gets the same stream.

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/live_control.h"
#include "runtime/engine/trace_session.h"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/weights/checkpoint.h"
#include "scheduler/sim_clock.h"
#include "tools/cli/commands.h"
#include "tools/cli/util_model_flags.h"
#include "tools/cli/util_run_summary.h"
#include "traces/registry.h"
#include "traces/socket_server.h"

namespace fm::cli {
namespace {

constexpr int64_t kSyntheticAbove = 4096;  // contexts above this use a synthetic fill by default

struct RunFlags {
  std::string model, context = "4096", decode = "128", requests = "1", mode = "lsa", tau = "64",
                     delta = "8", threshold = "0.5", kmax = "auto", tail_chunks = "2048",
                     page_chunks = "64", link = "pcie5", trace, prompt_file,
                     coverage = "auto", kv = "fp8", threads = "0", seed = "1", telemetry,
                     indexer;
  bool real_prefill = false, json = false, record_scores = false, telemetry_bind_any = false;
};

int Bad(const char* flag, const std::string& v, const char* expected) {
  std::fprintf(stderr, "flashmem run: %s=%s: expected %s\n", flag, v.c_str(), expected);
  return 2;
}

bool ParseLink(const std::string& text, sched::SimLinkConfig* link) {
  if (text == "pcie5") return true;  // the SimLinkConfig defaults (PERF_ANCHORS §0.3-0.4)
  std::vector<std::string> parts = absl::StrSplit(text, ',');
  double gbps = 0, latency_us = 0;
  if (parts.size() != 2 || !absl::SimpleAtod(parts[0], &gbps) ||
      !absl::SimpleAtod(parts[1], &latency_us) || !(gbps > 0) || !(latency_us >= 0) ||
      latency_us > 1e6) {
    return false;
  }
  link->h2d_gbps = link->d2h_gbps = gbps;
  link->batch_latency_ns = static_cast<int64_t>(latency_us * 1000.0);
  return true;
}

// Bytes of the file as token ids, repeated or cut to n. Empty on a read error or empty file.
std::vector<int32_t> PromptFromFile(const std::string& path, int64_t n, int64_t vocab) {
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  std::vector<int32_t> tokens;
  if (bytes.empty()) return tokens;
  tokens.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    tokens.push_back(static_cast<int32_t>(bytes[static_cast<size_t>(i) % bytes.size()] % vocab));
  }
  return tokens;
}

void Progress(int64_t step, int64_t total, double tok_per_s, bool paused = false) {
  constexpr int kWidth = 40;
  const int filled = total > 0 ? static_cast<int>(kWidth * step / total) : kWidth;
  std::fprintf(stderr, "\r[%s%s] %lld/%lld steps  %.1f tok/s%s", std::string(filled, '=').c_str(),
               std::string(kWidth - filled, ' ').c_str(), static_cast<long long>(step),
               static_cast<long long>(total), tok_per_s, paused ? "  paused " : "         ");
  std::fflush(stderr);
}

int RunRun(const RunFlags& f) {
  int64_t context = 0, decode = 0, tail = 0, kmax = 0, seed = 0;
  int requests = 0, tau = 0, delta = 0, page_chunks = 0, threads = 0;
  double threshold = 0;
  if (!absl::SimpleAtoi(f.context, &context) || context < 2 || context > (int64_t{1} << 24)) {
    return Bad("--context", f.context, "an integer in [2, 2^24]");
  }
  if (!absl::SimpleAtoi(f.decode, &decode) || decode < 1 || decode > (int64_t{1} << 24)) {
    return Bad("--decode", f.decode, "an integer in [1, 2^24]");
  }
  if (!absl::SimpleAtoi(f.requests, &requests) || requests < 1 || requests > 64) {
    return Bad("--requests", f.requests, "an integer in [1, 64]");
  }
  absl::StatusOr<rt::SelectionMode> mode = rt::ParseSelectionMode(f.mode);
  if (!mode.ok()) return Bad("--mode", f.mode, "full|lsa|recency|random|oracle");
  if (!absl::SimpleAtoi(f.tau, &tau) || tau < 1 || tau > 256) {
    return Bad("--tau", f.tau, "an integer in [1, 256]");
  }
  if (!absl::SimpleAtoi(f.delta, &delta) || delta < 1 || delta > tau) {
    return Bad("--delta", f.delta, "an integer in [1, --tau]");
  }
  if (!absl::SimpleAtod(f.threshold, &threshold) || !(threshold > 0) || !(threshold < 1)) {
    return Bad("--threshold", f.threshold, "a number in (0, 1)");
  }
  if (f.kmax != "auto" && (!absl::SimpleAtoi(f.kmax, &kmax) || kmax < 1 || kmax > (1 << 20))) {
    return Bad("--kmax", f.kmax, "auto or an integer in [1, 2^20]");
  }
  if (!absl::SimpleAtoi(f.tail_chunks, &tail) || tail < 0) {
    return Bad("--tail-chunks", f.tail_chunks, "an integer >= 0");
  }
  if (!absl::SimpleAtoi(f.page_chunks, &page_chunks) || page_chunks < 1 || page_chunks > 255) {
    return Bad("--page-chunks", f.page_chunks, "an integer in [1, 255]");
  }
  if (4 * page_chunks < tau + delta) {
    return Bad("--tau", f.tau, "tau + delta <= 4 * --page-chunks (a page's tokens)");
  }
  if (!absl::SimpleAtoi(f.threads, &threads) || threads < 0) {
    return Bad("--threads", f.threads, "an integer >= 0");
  }
  if (!absl::SimpleAtoi(f.seed, &seed)) return Bad("--seed", f.seed, "an integer");
  if (f.coverage != "auto" && f.coverage != "on" && f.coverage != "off") {
    return Bad("--measure-coverage", f.coverage, "auto|on|off");
  }
  std::optional<rt::TelemetryEndpoint> telemetry;
  if (!f.telemetry.empty()) {
    const std::string dir = traces::DefaultSocketDir(std::getenv("XDG_RUNTIME_DIR"),
                                                     std::getenv("TMPDIR"), ::getuid());
    absl::StatusOr<rt::TelemetryEndpoint> t =
        rt::ParseTelemetrySpec(f.telemetry, dir, static_cast<uint32_t>(::getpid()));
    if (!t.ok()) return Bad("--telemetry", f.telemetry, "unix, unix:PATH or tcp:PORT");
    t->tcp_bind_any = f.telemetry_bind_any;
    telemetry = *t;
  }
  if (f.telemetry_bind_any && (!telemetry || telemetry->tcp_port < 0)) {
    std::fprintf(stderr, "flashmem run: --telemetry-bind-any needs --telemetry=tcp:PORT\n");
    return 2;
  }
  if (f.record_scores && f.trace.empty()) {
    std::fprintf(stderr, "flashmem run: --record-scores needs --trace FILE (the frames go there)\n");
    return 2;
  }
  rt::EngineConfig ec;
  if (!ParseLink(f.link, &ec.link)) return Bad("--link", f.link, "pcie5 or GBps,latency_us");
  ec.mode = *mode;
  ec.params.tau_steps = tau;
  ec.params.publish_delay_steps = delta;
  ec.params.policy.threshold = threshold;
  ec.params.policy.kmax_pages = static_cast<int32_t>(kmax);
  ec.params.policy.tail_chunks = tail;
  ec.chunks_per_page = page_chunks;
  ec.max_requests = requests;
  ec.max_context_tokens = context + decode;
  ec.measure_coverage = f.coverage == "on" || (f.coverage == "auto" && context <= kSyntheticAbove);
  ec.seed = static_cast<uint64_t>(seed);
  ec.record_scores = f.record_scores;

  std::unique_ptr<rt::Model> model;
  if (int rc = LoadModelFromFlags("run", f.model, f.kv, threads, &model); rc != 0) return rc;
  const int64_t vocab = model->config().vocab_size;
  std::unique_ptr<rt::MemoryIndexer> indexer;
  if (ec.mode == rt::SelectionMode::kLsa) {
    auto ck = rt::Checkpoint::Open(f.model);
    // --indexer: trained retriever weights (flashmem train-indexer); else the native indexer.
    absl::StatusOr<std::unique_ptr<rt::MemoryIndexer>> mi =
        !ck.ok() ? absl::StatusOr<std::unique_ptr<rt::MemoryIndexer>>(ck.status())
        : !f.indexer.empty()
            ? rt::MemoryIndexer::FromSafetensors(f.indexer, (*ck)->config(),
                                                 rt::DefaultTargetCsaIndices((*ck)->config()))
            : rt::MemoryIndexer::FromNative(**ck, rt::DefaultTargetCsaIndices((*ck)->config()), {});
    if (!mi.ok()) {
      std::fprintf(stderr, "flashmem run: memory indexer%s%s: %s\n",
                   f.indexer.empty() ? "" : " --indexer=", f.indexer.c_str(),
                   mi.status().ToString().c_str());
      return 1;
    }
    indexer = std::move(*mi);
  }
  sched::RealClock clock;
  auto engine = rt::Engine::Create(model.get(), indexer.get(), ec, &clock);
  if (!engine.ok()) {
    std::fprintf(stderr, "flashmem run: %s\n", engine.status().ToString().c_str());
    return 2;
  }
  std::unique_ptr<rt::TraceSession> trace;
  std::unique_ptr<rt::LiveControl> live;
  if (!f.trace.empty() || telemetry) {
    rt::TraceSessionOptions so;
    so.trace_path = f.trace;
    so.telemetry = telemetry;
    so.hello = (*engine)->TraceHello();
    auto t = rt::TraceSession::Start(so);
    if (!t.ok()) {
      const std::string flag = !telemetry ? "--trace=" + f.trace
                               : f.trace.empty() ? "--telemetry=" + f.telemetry
                                                 : "--trace=" + f.trace + " --telemetry=" + f.telemetry;
      std::fprintf(stderr, "flashmem run: %s: %s\n", flag.c_str(), t.status().ToString().c_str());
      return 2;
    }
    trace = std::move(*t);
    (*engine)->SetTraceSession(trace.get());
    traces::Registry::Global().SetThreadName("engine");  // this thread runs every step
    rt::LiveControlOptions lo;
    // DESIGN.md §7: a Snapshot every 100 ms live; a file alone gets a keyframe every 2 s.
    lo.snapshot_period_ms = telemetry ? 100 : 2000;
    rt::TraceSession* session = trace.get();
    live = std::make_unique<rt::LiveControl>(
        engine->get(), session->controls(),
        [session](const traces::Snapshot& s) { session->PostSnapshot(s); }, lo);
    if (telemetry) {
      std::fprintf(stderr, "flashmem run: telemetry on %s%s (watch: flashmem-ui --connect %s)\n",
                   session->telemetry_address().c_str(),
                   f.telemetry_bind_any ? ", bound to all interfaces" : "",
                   session->telemetry_address().c_str());
    }
  }

  std::vector<int32_t> prompt;
  if (!f.prompt_file.empty()) {
    prompt = PromptFromFile(f.prompt_file, context, vocab);
    if (prompt.empty()) return Bad("--prompt-file", f.prompt_file, "a readable, non-empty file");
  } else if (context <= kSyntheticAbove || f.real_prefill) {
    std::mt19937_64 rng(static_cast<uint64_t>(seed));
    prompt.resize(static_cast<size_t>(context));
    for (int32_t& t : prompt) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));
  }
  std::fprintf(stderr, "flashmem run: %s, %d request(s) of %lld %s tokens, decode %lld\n",
               f.mode.c_str(), requests, static_cast<long long>(context),
               prompt.empty() ? "synthetic" : "prefilled", static_cast<long long>(decode));
  for (int i = 0; i < requests; ++i) {
    auto id = (*engine)->AddRequest(prompt, context, decode, static_cast<uint64_t>(seed + i));
    if (!id.ok()) {
      std::fprintf(stderr, "flashmem run: request %d: %s\n", i, id.status().ToString().c_str());
      return 1;
    }
    if (live) live->Poll();  // a profiler connected during a long prefill sees each admission
  }
  std::vector<rt::StepRecord> records;
  int64_t peak_full_kv = 0, last_draw = 0;
  const int64_t t0 = MonotonicNs();
  auto draw_paused = [&] {
    const int64_t now = MonotonicNs();
    if (now - last_draw < 100'000'000) return;
    last_draw = now;
    Progress(static_cast<int64_t>(records.size()), decode,
             static_cast<double>((*engine)->stats().tokens) / (static_cast<double>(now - t0) * 1e-9),
             /*paused=*/true);
  };
  while ((*engine)->active_requests() > 0) {
    // Controls apply between steps; a pause holds the loop here, still serving the profiler.
    if (live) live->AwaitRunnable(draw_paused);
    peak_full_kv = std::max(peak_full_kv, (*engine)->full_kv_bytes());
    auto rec = (*engine)->Step();
    if (!rec.ok()) {
      std::fprintf(stderr, "\nflashmem run: step %lld: %s\n",
                   static_cast<long long>(records.size()), rec.status().ToString().c_str());
      return 1;
    }
    records.push_back(*rec);
    const int64_t now = MonotonicNs();
    if (now - last_draw > 100'000'000 || (*engine)->active_requests() == 0) {
      last_draw = now;
      Progress(static_cast<int64_t>(records.size()), decode,
               static_cast<double>((*engine)->stats().tokens) / (static_cast<double>(now - t0) * 1e-9));
    }
  }
  std::fprintf(stderr, "\n");
  live.reset();  // before the session it posts to
  if (trace) {
    (*engine)->SetTraceSession(nullptr);
    if (absl::Status s = trace->Stop(); !s.ok()) {
      std::fprintf(stderr, "flashmem run: --trace=%s: %s\n", f.trace.c_str(), s.ToString().c_str());
      return 1;
    }
  }
  const RunSummary summary = Summarize(**engine, records, peak_full_kv);
  if (f.json) {
    std::printf("%s\n", SummaryToJson(summary).dump(2).c_str());
  } else {
    std::printf("%s", FormatSummary(summary).c_str());
  }
  return 0;
}

void AddRunCommand(CLI::App& root, Action* action) {
  auto f = std::make_shared<RunFlags>();
  CLI::App* cmd = root.add_subcommand("run", "Batched LSA decode on the CPU backend");
  cmd->add_option("--model", f->model, "checkpoint directory")->required();
  cmd->add_option("--context", f->context, "prompt tokens per request")->capture_default_str();
  cmd->add_option("--decode", f->decode, "tokens decoded per request")->capture_default_str();
  cmd->add_option("--requests", f->requests, "concurrent requests")->capture_default_str();
  cmd->add_option("--mode", f->mode, "full|lsa|recency|random|oracle")->capture_default_str();
  cmd->add_option("--indexer", f->indexer,
                  "lsa mode: memory-indexer weights (safetensors, flashmem train-indexer)");
  cmd->add_option("--tau", f->tau, "Level-1 cycle in decode steps")->capture_default_str();
  cmd->add_option("--delta", f->delta, "publish delay in steps")->capture_default_str();
  cmd->add_option("--threshold", f->threshold, "Level-1 density threshold")->capture_default_str();
  cmd->add_option("--kmax", f->kmax, "pages per request: auto or N")->capture_default_str();
  cmd->add_option("--tail-chunks", f->tail_chunks, "forced recency tail in chunks")
      ->capture_default_str();
  cmd->add_option("--page-chunks", f->page_chunks, "c4 chunks per page")->capture_default_str();
  cmd->add_option("--link", f->link, "pcie5 or GBps,latency_us")->capture_default_str();
  cmd->add_option("--trace", f->trace, "write a .fmtrace file");
  cmd->add_flag("--telemetry{unix}", f->telemetry,
               "serve live telemetry and controls to flashmem-ui: unix (default socket), "
               "unix:PATH or tcp:PORT");
  cmd->add_flag("--telemetry-bind-any", f->telemetry_bind_any,
               "with --telemetry=tcp:PORT, listen on all interfaces instead of 127.0.0.1");
  cmd->add_flag("--record-scores", f->record_scores,
               "with --trace, lsa mode: record Level-1 scores and Level-2 picks for flashmem tune");
  cmd->add_option("--prompt-file", f->prompt_file, "prompt bytes as token ids");
  cmd->add_flag("--real-prefill", f->real_prefill, "prefill random tokens even above 4096");
  cmd->add_option("--measure-coverage", f->coverage,
                  "auto (context <= 4096) | on | off: full-attention shadow per request")
      ->capture_default_str();
  cmd->add_option("--kv", f->kv, "KV cache format: fp32 | fp8")->capture_default_str();
  cmd->add_option("--threads", f->threads, "compute threads (0: all cores)")->capture_default_str();
  cmd->add_option("--seed", f->seed, "prompt / synthetic / random-mode seed")->capture_default_str();
  cmd->add_flag("--json", f->json, "print the summary as JSON");
  cmd->callback([action, f] { *action = [f] { return RunRun(*f); }; });
}

}  // namespace

FM_REGISTER_COMMAND(AddRunCommand);

}  // namespace fm::cli
