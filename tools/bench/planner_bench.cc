// `flashmem bench planner`: CPU time of the Level-1 planner per cycle (DESIGN.md §11; target
// <= 1 ms at 1M context, no baseline). The cycle benchmarks run a Scheduler at steady state:
// every iteration is one full cycle of one request (select, diff, victims, coalesced plan, apply,
// issue, publish) with ~3 % of the page densities changing, as between two real cycles. Copies
// complete at once, so only planner CPU time is measured.

#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "scheduler/capacity.h"
#include "scheduler/scheduler.h"
#include "scheduler/selection_policy.h"

namespace fm::bench {
namespace {

using sched::ChunkIndex;
using sched::ColdPageId;
using sched::CopyDirection;
using sched::CopyRange;
using sched::CopyTicket;
using sched::RequestId;

// A copy engine whose copies land at once: the planner's cost without the link's.
class InstantCopies final : public sched::CopyEngine {
 public:
  absl::StatusOr<CopyTicket> Submit(CopyDirection d, absl::Span<const CopyRange>) override {
    return CopyTicket{d, ++seq_};
  }
  bool IsDone(CopyTicket) override { return true; }
  absl::StatusOr<int64_t> Wait(CopyTicket) override { return int64_t{0}; }

 private:
  uint64_t seq_ = 0;
};

constexpr int kTargetLayers = 3;

std::vector<uint8_t> RandomDensity(int64_t pages, std::mt19937_64& rng) {
  std::vector<uint8_t> d(static_cast<size_t>(pages));
  for (auto& x : d) x = static_cast<uint8_t>(rng() % 65);
  return d;
}

// Level-1 density from 3 layers' probabilities (the CPU reference of the GPU kernel).
void PageDensity(benchmark::State& state, int64_t tokens) {
  const int64_t chunks = sched::ChunksForTokens(tokens, sched::GeometryConfig{});
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<std::vector<float>> probs(kTargetLayers, std::vector<float>(chunks));
  for (auto& layer : probs) {
    for (float& p : layer) p = u(rng) * u(rng);  // mostly below 0.5, as real scores are
  }
  std::vector<absl::Span<const float>> spans(probs.begin(), probs.end());
  std::vector<uint8_t> density;
  for (auto _ : state) {
    absl::Status s =
        sched::ComputePageDensity(spans, chunks, 0.5, sched::GeometryConfig{}, &density);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(density.data());
  }
  state.SetItemsProcessed(state.iterations() * chunks);
}

// Page selection alone: tail, sink, top-KMAX by density.
void Level1Select(benchmark::State& state, int64_t tokens) {
  const sched::GeometryConfig g;
  const int64_t chunks = sched::ChunksForTokens(tokens, g);
  const int64_t pages = sched::PagesForChunks(chunks, g);
  std::mt19937_64 rng(2);
  const std::vector<uint8_t> density = RandomDensity(pages, rng);
  const int32_t kmax = sched::DefaultKmaxPages(pages);
  sched::Selection sel;
  for (auto _ : state) {
    absl::Status s = sched::SelectPages(density, chunks, sched::PolicyParams{}, kmax, g, &sel);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(sel.ascending.data());
  }
  state.counters["pages"] = static_cast<double>(pages);
  state.counters["kmax"] = kmax;
}

// One whole cycle (plan + apply + issue + publish) of one request at steady state. With
// `cpu_density` the cycle also computes the densities from 3 layers' probabilities on the CPU, as
// the CPU backend does (the CUDA backend computes them on the GPU).
void PlanCycle(benchmark::State& state, int64_t tokens, bool cpu_density) {
  sched::SchedulerConfig config;
  const int64_t chunks = sched::ChunksForTokens(tokens, config.geometry);
  const int64_t pages = sched::PagesForChunks(chunks, config.geometry);
  const int32_t kmax = sched::DefaultKmaxPages(pages);
  config.slots_total = static_cast<int32_t>(*sched::SlotsNeeded({kmax}, config.headroom));
  config.kmax_max_pages = kmax;
  InstantCopies copies;
  std::unique_ptr<sched::Scheduler> s = *sched::Scheduler::Create(config, &copies);
  std::mt19937_64 rng(3);
  std::vector<uint8_t> density = RandomDensity(pages, rng);
  std::vector<std::vector<float>> probs;
  std::vector<absl::Span<const float>> spans;
  if (cpu_density) {
    std::uniform_real_distribution<float> u(0.f, 1.f);
    probs.assign(kTargetLayers, std::vector<float>(static_cast<size_t>(chunks)));
    for (auto& layer : probs) {
      for (float& p : layer) p = u(rng) * u(rng);
    }
    spans.assign(probs.begin(), probs.end());
    if (!sched::ComputePageDensity(spans, chunks, 0.5, config.geometry, &density).ok()) {
      state.SkipWithError("density failed");
      return;
    }
  }
  std::vector<ColdPageId> cold;
  for (int64_t p = 0; p < pages + 2; ++p) cold.push_back(ColdPageId{p});
  const RequestId id{1};
  if (!s->Admit(sched::AdmitSpec{id, 0, chunks, cold, density}).ok() ||
      !s->OnFlipped(id, 0, 0).ok()) {
    state.SkipWithError("admission failed");
    return;
  }
  sched::CyclePlan plan;
  int64_t step = 64;
  int64_t fetched = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int64_t k = 0; k < pages / 32; ++k) {
      const int64_t p = static_cast<int64_t>(rng() % static_cast<uint64_t>(pages));
      if (!cpu_density) {
        density[static_cast<size_t>(p)] = static_cast<uint8_t>(rng() % 65);
        continue;
      }
      const float level = static_cast<float>(rng() % 100) / 100.f;  // re-score one page
      for (int64_t j = p * 64; j < std::min(chunks, p * 64 + 64); ++j) {
        probs[0][static_cast<size_t>(j)] = (j & 1) ? level : 0.f;
      }
    }
    state.ResumeTiming();
    absl::Status st = absl::OkStatus();
    if (cpu_density) {
      st = sched::ComputePageDensity(spans, chunks, 0.5, config.geometry, &density);
    }
    if (st.ok()) st = s->PlanCycle(sched::CycleInput{id, step, chunks, density}, &plan);
    if (st.ok()) st = s->ApplyCycle(plan);
    if (st.ok()) st = s->IssueCopies(step).status();
    if (st.ok()) st = s->IssueAllNow(id).status();  // a drift above the byte budget: no slip
    const sched::PublishDecision d = s->PublishDue(id, plan.publish_step);
    if (st.ok()) st = s->OnFlipped(id, d.generation, 0);
    if (!st.ok()) {
      state.SkipWithError(std::string(st.message()).c_str());
      return;
    }
    fetched += static_cast<int64_t>(plan.fetches.size());
    step += 64;
  }
  state.counters["pages"] = static_cast<double>(pages);
  state.counters["kmax"] = kmax;
  state.counters["fetched_per_cycle"] =
      static_cast<double>(fetched) / static_cast<double>(std::max<int64_t>(1, state.iterations()));
}

constexpr int64_t k256K = int64_t{1} << 18;
constexpr int64_t k1M = int64_t{1} << 20;

void BM_PageDensity1M(benchmark::State& state) { PageDensity(state, k1M); }
void BM_Level1Select256K(benchmark::State& state) { Level1Select(state, k256K); }
void BM_Level1Select1M(benchmark::State& state) { Level1Select(state, k1M); }
void BM_PlanCycle256K(benchmark::State& state) { PlanCycle(state, k256K, false); }
void BM_PlanCycle1M(benchmark::State& state) { PlanCycle(state, k1M, false); }
void BM_PlanCycleCpuDensity1M(benchmark::State& state) { PlanCycle(state, k1M, true); }

BENCHMARK(BM_PageDensity1M)->Name("planner/page_density_1M")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Level1Select256K)->Name("planner/level1_select_256K")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Level1Select1M)->Name("planner/level1_select_1M")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PlanCycle256K)->Name("planner/plan_cycle_256K")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PlanCycle1M)->Name("planner/plan_cycle_1M")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PlanCycleCpuDensity1M)
    ->Name("planner/plan_cycle_cpu_density_1M")
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace fm::bench
