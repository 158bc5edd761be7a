// `flashmem bench decode` (see decode_bench.h). Step times come from CUDA events the executor
// records on its compute stream, so they are GPU intervals (host scheduling noise excluded, a GPU
// bubble included); the host runs ahead by the executor's bound, as the engine does.

#include "tools/bench/decode_bench.h"

#include <algorithm>
#include <numeric>

#include "tools/cli/util_run_summary.h"

#if FM_WITH_CUDA
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cuda/device.h"
#include "runtime/backend/cuda/gpu_decode.h"
#include "runtime/backend/cuda/pools.h"
#include "runtime/model/model.h"
#endif

namespace fm::bench {

nlohmann::json SummarizeDecodeSamples(const std::vector<DecodeStepSample>& samples) {
  std::vector<int64_t> all_ns, boundary_ns;
  double interval = 0, stall = 0;
  for (size_t i = 1; i < samples.size(); ++i) {  // sample 0 has no previous step
    const DecodeStepSample& s = samples[i];
    const auto ns = static_cast<int64_t>(s.interval_ms * 1e6);
    all_ns.push_back(ns);
    if (s.boundary) boundary_ns.push_back(ns);
    interval += s.interval_ms;
    stall += s.stall_ms;
  }
  const double p50 = cli::Percentile(all_ns, 0.5) * 1e-6;
  const double p99 = cli::Percentile(all_ns, 0.99) * 1e-6;
  return {{"n_steps", all_ns.size()},
          {"tpot_ms", all_ns.empty() ? 0.0 : interval / static_cast<double>(all_ns.size())},
          {"p50_ms", p50},
          {"p99_ms", p99},
          {"p99_over_p50", p50 > 0 ? p99 / p50 : 0.0},
          {"boundary_p50_ms", cli::Percentile(boundary_ns, 0.5) * 1e-6},
          {"boundary_steps", boundary_ns.size()},
          {"stall_fraction", interval > 0 ? stall / interval : 0.0}};
}

BenchLsaCycle::BenchLsaCycle(int64_t ctx_pages, int64_t table_pages, int64_t kmax, int64_t churn,
                             int32_t slot_base, uint64_t seed)
    : ctx_pages_(ctx_pages), churn_(churn), rng_state_(seed) {
  live_.assign(static_cast<size_t>(std::max(table_pages, ctx_pages)), -1);
  int32_t next = slot_base;
  for (int64_t i = 0; i < kmax && i < ctx_pages; ++i)
    live_[static_cast<size_t>(ctx_pages - 1 - i)] = next++;
  const int32_t end = slot_base + static_cast<int32_t>(SlotsNeeded(kmax, churn));
  while (next < end) free_slots_.push_back(next++);
}

uint64_t BenchLsaCycle::Next() {  // splitmix64: deterministic across platforms
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

std::vector<std::pair<int32_t, int32_t>> BenchLsaCycle::Boundary() {
  std::vector<std::pair<int32_t, int32_t>> fetch;
  if (has_pending()) return fetch;
  std::vector<int32_t> resident, absent;
  for (int64_t p = 0; p + 1 < ctx_pages_; ++p) {  // the tail page (last) always stays
    (live_[static_cast<size_t>(p)] >= 0 ? resident : absent).push_back(static_cast<int32_t>(p));
  }
  auto shuffle = [this](std::vector<int32_t>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[Next() % i]);
  };
  shuffle(resident);
  shuffle(absent);
  const size_t n =
      std::min({static_cast<size_t>(churn_), absent.size(), resident.size(), free_slots_.size()});
  pending_ = live_;
  pending_freed_.clear();
  for (size_t i = 0; i < n; ++i) {
    const int32_t slot = free_slots_.back();
    free_slots_.pop_back();
    pending_[static_cast<size_t>(absent[i])] = slot;
    fetch.emplace_back(absent[i], slot);
    pending_freed_.push_back(pending_[static_cast<size_t>(resident[i])]);
    pending_[static_cast<size_t>(resident[i])] = -1;
  }
  return fetch;
}

bool BenchLsaCycle::Publish() {
  if (!has_pending()) return false;
  live_ = std::move(pending_);
  pending_.clear();
  free_slots_.insert(free_slots_.end(), pending_freed_.begin(), pending_freed_.end());
  pending_freed_.clear();
  return true;
}

#if !FM_WITH_CUDA

std::string DecodeSkipReason() { return "flashmem was built without CUDA (FLASHMEM_CUDA=OFF)"; }

absl::StatusOr<nlohmann::json> RunDecodeBench(const DecodeBenchOptions&) {
  return absl::UnavailableError(DecodeSkipReason());
}

#else

std::string DecodeSkipReason() {
  auto dev = kernels::FirstCudaDevice();
  return dev.ok() ? std::string() : std::string(dev.status().message());
}

namespace {

constexpr int64_t kWarmupSteps = 8;

// Runs warm-up plus `steps` timed steps; LSA mode drives the τ-cycle through StepWork.
absl::StatusOr<nlohmann::json> RunMode(const rt::Model& model, const DecodeBenchOptions& o,
                                       int64_t context, bool lsa) {
  const rt::ModelConfig& c = model.config();
  int64_t max_ratio = 4;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l)
    max_ratio = std::max(max_ratio, c.compress_ratio(l));
  const int64_t need = context + kWarmupSteps + o.steps + 1;
  const int64_t max_context = (need + max_ratio - 1) / max_ratio * max_ratio;
  const int64_t ctx_pages = (context / 4 + rt::cuda::kChunksPerPage - 1) / rt::cuda::kChunksPerPage;
  const int64_t kmax = std::max<int64_t>(1, static_cast<int64_t>(o.kmax_fraction * ctx_pages));
  const int64_t churn = std::min(kmax, std::max<int64_t>(1, static_cast<int64_t>(o.churn * kmax)));
  rt::cuda::GpuDecodeOptions eo;
  eo.batch = o.batch;
  eo.max_context = max_context;
  eo.hot_slots = o.batch * BenchLsaCycle::SlotsNeeded(kmax, churn);
  FM_ASSIGN_OR_RETURN(auto ex, rt::cuda::GpuDecodeExecutor::Create(model, eo));
  FM_RETURN_IF_ERROR(ex->FillSyntheticContext(context, 1));

  // The cold pool: `churn` pinned pages per row that each cycle's misses are copied from.
  FM_ASSIGN_OR_RETURN(
      auto cold, rt::cuda::PinnedColdPool::Create(std::max<int64_t>(1, churn), ex->slot_bytes()));
  for (int64_t p = 0; p < cold->n_pages(); ++p)
    std::memset(cold->PagePtr(p), 0, static_cast<size_t>(ex->slot_bytes()));
  std::vector<BenchLsaCycle> rows;
  rt::cuda::StepWork first;
  for (int64_t r = 0; r < o.batch && lsa; ++r) {
    const int32_t base = static_cast<int32_t>(r * BenchLsaCycle::SlotsNeeded(kmax, churn));
    rows.emplace_back(ctx_pages, ex->plan().n_pages, kmax, churn, base,
                      7 + static_cast<uint64_t>(r));
    // Generation 0 is staged from the row's own store (real entries) before the first step.
    const std::vector<int32_t>& live = rows.back().live();
    for (int64_t page = 0; page < ctx_pages; ++page) {
      const int32_t slot = live[static_cast<size_t>(page)];
      if (slot < 0) continue;
      for (const rt::cuda::PageCopy& pc : ex->PageCopiesFromStore(r, page, slot))
        first.stage.push_back(pc);
    }
    first.publish.push_back({r, live, true});
  }
  const int64_t total = kWarmupSteps + o.steps;
  for (int64_t t = 0; t < total; ++t) {
    if (t == kWarmupSteps) FM_RETURN_IF_ERROR(ex->EnableTiming(o.steps));
    rt::cuda::StepWork work;
    if (t == 0) work = first;
    const int64_t phase = t % o.tau;
    for (int64_t r = 0; r < o.batch && lsa && t > 0; ++r) {
      BenchLsaCycle& cy = rows[static_cast<size_t>(r)];
      if (phase == 0) {
        // Boundary: the churned pages come from the pinned cold pool on the h2d stream.
        int64_t i = 0;
        for (const auto& [page, slot] : cy.Boundary()) {
          work.stage.push_back({cold->PagePtr(i++ % cold->n_pages()), slot, 0, ex->slot_bytes()});
        }
      } else if (phase == o.delta && cy.Publish()) {
        work.publish.push_back({r, cy.live(), true});
      }
    }
    FM_RETURN_IF_ERROR(ex->Step(work));
  }
  FM_ASSIGN_OR_RETURN(auto timings, ex->ReadTimings());
  std::vector<DecodeStepSample> samples;
  for (const auto& tm : timings) samples.push_back({tm.interval_ms, tm.stall_ms, tm.publish});
  nlohmann::json j = SummarizeDecodeSamples(samples);
  const rt::cuda::GpuDecodeCounters& k = ex->counters();
  j["mode"] = lsa ? "lsa" : "all_resident";
  j["context"] = context;
  j["batch"] = o.batch;
  j["syncs_per_step"] =
      static_cast<double>(k.blocking_calls_in_steps) / static_cast<double>(k.steps);
  j["run_ahead_waits_per_step"] =
      static_cast<double>(k.run_ahead_waits) / static_cast<double>(k.steps);
  j["allocations_in_steps"] = k.allocations_in_steps;
  j["graph_captures"] = k.captures;
  if (lsa) {
    j["kmax_pages"] = kmax;
    j["context_pages"] = ctx_pages;
    j["churn_pages"] = churn;
    j["tau"] = o.tau;
    j["delta"] = o.delta;
    j["page_bytes"] = ex->slot_bytes();
  }
  return j;
}

}  // namespace

absl::StatusOr<nlohmann::json> RunDecodeBench(const DecodeBenchOptions& o) {
  if (o.model.empty())
    return absl::InvalidArgumentError("--model is required for the decode suite");
  if (o.steps < 2 || o.batch < 1 || o.tau < 1 || o.delta < 1 || o.delta >= o.tau) {
    return absl::InvalidArgumentError(
        absl::StrCat("decode bench: steps=", o.steps, " batch=", o.batch, " tau=", o.tau,
                     " delta=", o.delta, " (need steps >= 2, batch >= 1, 1 <= delta < tau)"));
  }
  FM_ASSIGN_OR_RETURN(kernels::CudaDeviceInfo dev, kernels::FirstCudaDevice());
  rt::ModelOptions mo;
  mo.n_threads = 1;  // the CPU backend only loads here
  FM_ASSIGN_OR_RETURN(std::unique_ptr<rt::Model> model, rt::Model::Load(o.model, mo));
  nlohmann::json doc = {{"suite", "decode"},
                        {"skipped", false},
                        {"model", o.model},
                        {"device", dev.name},
                        {"results", nlohmann::json::array()},
                        {"ratios", nlohmann::json::array()}};
  for (int64_t context : o.contexts) {
    FM_ASSIGN_OR_RETURN(nlohmann::json full, RunMode(*model, o, context, false));
    FM_ASSIGN_OR_RETURN(nlohmann::json lsa, RunMode(*model, o, context, true));
    const double full_tpot = full["tpot_ms"].get<double>();
    doc["ratios"].push_back({{"context", context},
                             {"tpot_lsa_over_all_resident",
                              full_tpot > 0 ? lsa["tpot_ms"].get<double>() / full_tpot : 0.0},
                             {"lsa_p99_over_p50", lsa["p99_over_p50"]},
                             {"lsa_stall_fraction", lsa["stall_fraction"]},
                             {"lsa_syncs_per_step", lsa["syncs_per_step"]}});
    doc["results"].push_back(std::move(full));
    doc["results"].push_back(std::move(lsa));
  }
  return doc;
}

#endif

}  // namespace fm::bench
