// `flashmem bench pcie` (see pcie_bench.h). Every benchmark times one batch per iteration with CUDA
// events on the engine's own stream (manual time), so submission cost that the GPU has to wait for
// is counted and host-side scheduling noise is not.

#include "tools/bench/pcie_bench.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "scheduler/copy_plan.h"

#if FM_WITH_CUDA
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cstring>
#include <memory>

#include "kernels/cuda/device.h"
#include "runtime/backend/cuda/blocking.h"
#include "runtime/backend/cuda/cuda_copy_engine.h"
#include "runtime/backend/cuda/pools.h"
#include "scheduler/geometry.h"
#endif

namespace fm::bench {

std::vector<sched::CopyRange> ScatteredPagePlan(int64_t n_cold, int64_t n_hot, int64_t k,
                                                int64_t slot_bytes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t tail = std::max<int64_t>(1, k / 8);
  std::vector<int64_t> pages;
  for (int64_t p = n_cold - tail; p < n_cold; ++p) pages.push_back(p);
  std::vector<int64_t> older(static_cast<size_t>(n_cold - tail));
  std::iota(older.begin(), older.end(), 0);
  std::shuffle(older.begin(), older.end(), rng);
  pages.insert(pages.end(), older.begin(), older.begin() + (k - tail));
  std::sort(pages.begin(), pages.end());
  std::vector<int64_t> free_slots(static_cast<size_t>(n_hot));
  std::iota(free_slots.begin(), free_slots.end(), 0);
  std::shuffle(free_slots.begin(), free_slots.end(), rng);
  std::vector<sched::PageMove> moves;
  for (size_t i = 0; i < pages.size(); ++i) {
    moves.push_back({pages[i] * slot_bytes, free_slots[i] * slot_bytes});
  }
  std::vector<sched::CopyRange> ranges;
  sched::CoalescePageMoves(moves, slot_bytes, &ranges);
  return ranges;
}

#if !FM_WITH_CUDA

std::string PcieSkipReason() { return "flashmem was built without CUDA (FLASHMEM_CUDA=OFF)"; }

#else

std::string PcieSkipReason() {
  auto dev = kernels::FirstCudaDevice();
  return dev.ok() ? std::string() : std::string(dev.status().message());
}

namespace {

using rt::cuda::BlockingReason;
using rt::cuda::CopyPathPreference;
using sched::CopyDirection;
using sched::CopyRange;

// 1024 cold pages (770 MiB pinned) and 512 hot slots of V4-Flash size: large enough that the
// scattered sets touch memory far beyond the L2 and the host caches.
constexpr int64_t kColdPages = 1024;
constexpr int64_t kHotSlots = 512;

struct Rig {
  std::unique_ptr<rt::cuda::PinnedColdPool> cold;
  std::unique_ptr<rt::cuda::DeviceHotPool> hot;
  std::unique_ptr<rt::cuda::CudaCopyEngine> engines[3];  // by CopyPath
  cudaEvent_t start = nullptr, stop = nullptr;
  std::string error;
};

Rig& GetRig() {
  static Rig* rig = [] {
    auto* r = new Rig;  // lives for the process: pools are freed by the OS at exit
    const int64_t slot = sched::GeometryConfig{}.slot_bytes();
    auto cold = rt::cuda::PinnedColdPool::Create(kColdPages, slot);
    auto hot = rt::cuda::DeviceHotPool::Create(kHotSlots, slot);
    if (!cold.ok() || !hot.ok()) {
      r->error = std::string(!cold.ok() ? cold.status().message() : hot.status().message());
      return r;
    }
    r->cold = std::move(*cold);
    r->hot = std::move(*hot);
    // Random bytes, not zeros: nothing on the path may get faster on special data.
    std::mt19937_64 rng(1);
    for (int64_t p = 0; p < kColdPages; ++p) {
      for (int64_t i = 0; i + 8 <= slot; i += 8) {
        const uint64_t v = rng();
        std::memcpy(r->cold->PagePtr(p) + i, &v, 8);
      }
    }
    const CopyPathPreference prefs[3] = {CopyPathPreference::kCopyEngineBatch,
                                         CopyPathPreference::kCopyEnginePerRange,
                                         CopyPathPreference::kSmKernel};
    for (int i = 0; i < 3; ++i) {
      rt::cuda::CudaCopyEngineConfig c;
      c.path = prefs[i];
      auto e = rt::cuda::CudaCopyEngine::Create(c, r->cold.get(), r->hot.get());
      if (!e.ok()) {
        r->error = std::string(e.status().message());
        return r;
      }
      r->engines[i] = std::move(*e);
    }
    if (cudaEventCreate(&r->start) != cudaSuccess || cudaEventCreate(&r->stop) != cudaSuccess) {
      r->error = "cudaEventCreate failed";
    }
    return r;
  }();
  return *rig;
}

// One batch per iteration, timed on the GPU from before the first submission call to after the
// last copy.
void RunCopy(benchmark::State& state, int path, CopyDirection dir, std::vector<CopyRange> ranges) {
  Rig& rig = GetRig();
  if (!rig.error.empty()) {
    state.SkipWithError(rig.error.c_str());
    return;
  }
  rt::cuda::CudaCopyEngine& engine = *rig.engines[path];
  cudaStream_t s = engine.stream(dir);
  int64_t bytes = 0;
  for (const CopyRange& r : ranges) bytes += r.bytes;
  for (auto _ : state) {
    cudaEventRecord(rig.start, s);
    auto t = engine.Submit(dir, ranges);
    if (!t.ok()) {
      state.SkipWithError(std::string(t.status().message()).c_str());
      return;
    }
    cudaEventRecord(rig.stop, s);
    if (rt::cuda::BlockingEventSynchronize(rig.stop, BlockingReason::kBench) != cudaSuccess) {
      state.SkipWithError(cudaGetErrorString(cudaGetLastError()));
      return;
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, rig.start, rig.stop);
    state.SetIterationTime(static_cast<double>(ms) * 1e-3);
    if (!engine.IsDone(*t)) {  // the batch's own event precedes `stop`: it must be done
      state.SkipWithError("copy batch not done after its stream's later event");
      return;
    }
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["ranges"] = static_cast<double>(ranges.size());
}

const char* kPathNames[3] = {"ce_batch", "ce_per_call", "sm_kernel"};

std::string SizeName(int64_t bytes) {
  return bytes >= (int64_t{1} << 20) ? std::to_string(bytes >> 20) + "MiB"
                                     : std::to_string(bytes >> 10) + "KiB";
}

// Registered at start-up; benchmark names sort as: baseline, contiguous sizes, scattered sets.
bool RegisterPcieBenchmarks() {
  const int64_t slot = sched::GeometryConfig{}.slot_bytes();
  const int64_t bulk = int64_t{64} << 20;
  benchmark::RegisterBenchmark("pcie/baseline_ce_bulk_h2d_64MiB",
                               [=](benchmark::State& s) {
                                 RunCopy(s, 0, CopyDirection::kHostToDevice, {{0, 0, bulk}});
                               })
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
  for (int path = 0; path < 3; ++path) {
    for (int64_t bytes = 4096; bytes <= bulk; bytes *= 4) {
      benchmark::RegisterBenchmark(
          ("pcie/h2d_contiguous_" + SizeName(bytes) + "/" + kPathNames[path]).c_str(),
          [=](benchmark::State& s) {
            RunCopy(s, path, CopyDirection::kHostToDevice, {{0, 0, bytes}});
          })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
    benchmark::RegisterBenchmark(
        ("pcie/d2h_contiguous_64MiB/" + std::string(kPathNames[path])).c_str(),
        [=](benchmark::State& s) {
          RunCopy(s, path, CopyDirection::kDeviceToHost, {{0, 0, bulk}});
        })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
    for (int64_t k : {16, 64, 384}) {
      const std::vector<CopyRange> plan = ScatteredPagePlan(kColdPages, kHotSlots, k, slot, 42);
      benchmark::RegisterBenchmark(
          ("pcie/h2d_scattered_k" + std::to_string(k) + "/" + kPathNames[path]).c_str(),
          [=](benchmark::State& s) { RunCopy(s, path, CopyDirection::kHostToDevice, plan); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
    // Write-back of scattered slots to their cold pages: the reverse of the k=64 plan.
    std::vector<CopyRange> back = ScatteredPagePlan(kColdPages, kHotSlots, 64, slot, 43);
    for (CopyRange& r : back) std::swap(r.src_offset_bytes, r.dst_offset_bytes);
    benchmark::RegisterBenchmark(
        ("pcie/d2h_scattered_k64/" + std::string(kPathNames[path])).c_str(),
        [=](benchmark::State& s) { RunCopy(s, path, CopyDirection::kDeviceToHost, back); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
  return true;
}

const bool kRegistered = RegisterPcieBenchmarks();

}  // namespace

#endif  // FM_WITH_CUDA

}  // namespace fm::bench
