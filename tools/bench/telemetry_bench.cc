// The telemetry suite (`flashmem bench telemetry`, or the standalone fm_traces_bench): the cost of
// one event on the hot path, enabled and disabled, with the ring full, inside a zone, and the
// sustained rate at which the drain records into a .fmtrace file. All single producer thread;
// the drain runs on its own thread where a collector is started. Ratios are reported against
// telemetry/baseline_empty_loop (DESIGN.md §11).

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "benchmark/benchmark.h"
#include "traces/collector.h"
#include "traces/emit.h"
#include "traces/memory_sink.h"
#include "traces/trace_file_writer.h"
#include "traces/zone.h"

namespace fm::traces {
namespace {

void BaselineEmptyLoop(benchmark::State& state) {
  uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(i);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void EmitDisabled(benchmark::State& state) {
  const uint32_t name = Intern("bench_count");
  uint64_t i = 0;
  for (auto _ : state) {
    EmitCounter(name, static_cast<int64_t>(i++));
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}

// Hot-path cost of a recorded event: each iteration emits kBatch records into a ring with room
// (so none is dropped), then drains them with the timer paused. One item = one event.
constexpr int kBatch = 4096;

template <typename EmitFn>
void RecordedBatches(benchmark::State& state, EmitFn emit) {
  auto sink = std::make_shared<MemorySink>(/*keep_frames=*/false);
  Collector c(CollectorOptions{});
  c.AddSink(sink);
  if (!c.StartManual().ok()) {
    state.SkipWithError("another collector is running");
    return;
  }
  c.DrainOnce();  // the thread's ring exists and is empty before timing starts
  uint64_t i = 0;
  for (auto _ : state) {
    for (int k = 0; k < kBatch; ++k) emit(i++);
    state.PauseTiming();
    c.DrainOnce();
    state.ResumeTiming();
  }
  c.Stop();
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["dropped"] = static_cast<double>(c.drops_reported());
}

// EmitCounter: one clock read plus the ring store.
void EmitEnabled(benchmark::State& state) {
  const uint32_t name = Intern("bench_count");
  RecordedBatches(state, [name](uint64_t i) { EmitCounter(name, static_cast<int64_t>(i)); });
}

// The time supplied by the caller (GPU-mapped times): the ring store alone.
void EmitEnabledNoClock(benchmark::State& state) {
  const uint32_t name = Intern("bench_mark");
  RecordedBatches(state, [name](uint64_t i) {
    Emit(EventKind::kMark, name, static_cast<int64_t>(i), 1, 2);
  });
}

// Telemetry on but nobody drains: every emit takes the drop path.
void RingFull(benchmark::State& state) {
  Collector c(CollectorOptions{});
  if (!c.StartManual().ok()) {
    state.SkipWithError("another collector is running");
    return;
  }
  const uint32_t name = Intern("bench_mark");
  while (TryEmit(Event{11, 0, 0, name, 0, 0, 0})) {
  }
  for (auto _ : state) {
    Emit(EventKind::kMark, name, 1, 1, 2);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  c.Stop();
}

// A whole FM_ZONE scope: two clock reads, one record, and the NVTX push/pop where compiled in.
void ZoneEnabled(benchmark::State& state) {
  RecordedBatches(state, [](uint64_t) {
    FM_ZONE("bench.zone");
    benchmark::ClobberMemory();
  });
}

// Sustained recording: the producer retries when its ring is full, so items/s is the rate the
// drain actually gets into the file (encode + CRC + write), not the rate at which it drops.
void FileSustained(benchmark::State& state) {
  const std::string path = "/tmp/fm_telemetry_bench_" + std::to_string(::getpid()) + ".fmtrace";
  auto file = FileSink::Create(path);
  if (!file.ok()) {
    state.SkipWithError(std::string(file.status().message()).c_str());
    return;
  }
  Collector c(CollectorOptions{});
  c.AddSink(*file);
  if (!c.Start().ok()) {
    state.SkipWithError("another collector is running");
    return;
  }
  const uint32_t name = Intern("bench_mark");
  int64_t t = 0;
  for (auto _ : state) {
    ++t;
    while (!TryEmit(Event{11, 0, 0, name, t, 1, 2})) {
      std::this_thread::yield();  // ring full: let the drain run (matters on a shared machine)
    }
  }
  c.Flush();
  c.Stop();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(sizeof(Event)));
  std::remove(path.c_str());
}

// The whole recording pipeline on one thread (emit 8192 records, then one drain pass that encodes,
// checksums and writes them): its items/s is the file-recording capacity of one core, free of
// scheduler effects on a shared machine.
void FilePipelineOneThread(benchmark::State& state) {
  const std::string path = "/tmp/fm_telemetry_bench1_" + std::to_string(::getpid()) + ".fmtrace";
  auto file = FileSink::Create(path);
  if (!file.ok()) {
    state.SkipWithError(std::string(file.status().message()).c_str());
    return;
  }
  Collector c(CollectorOptions{});
  c.AddSink(*file);
  if (!c.StartManual().ok()) {
    state.SkipWithError("another collector is running");
    return;
  }
  const uint32_t name = Intern("bench_mark");
  c.DrainOnce();  // preamble
  int64_t t = 0;
  uint64_t dropped = 0;
  for (auto _ : state) {
    for (int i = 0; i < 8192; ++i) dropped += !TryEmit(Event{11, 0, 0, name, ++t, 1, 2});
    c.DrainOnce();
  }
  c.Stop();
  state.SetItemsProcessed(state.iterations() * 8192);
  state.counters["dropped"] = static_cast<double>(dropped);
  std::remove(path.c_str());
}

[[maybe_unused]] const bool kRegistered = [] {
  benchmark::RegisterBenchmark("telemetry/baseline_empty_loop", BaselineEmptyLoop);
  benchmark::RegisterBenchmark("telemetry/emit_disabled", EmitDisabled);
  benchmark::RegisterBenchmark("telemetry/emit_enabled", EmitEnabled);
  benchmark::RegisterBenchmark("telemetry/emit_enabled_no_clock", EmitEnabledNoClock);
  benchmark::RegisterBenchmark("telemetry/ring_full", RingFull);
  benchmark::RegisterBenchmark("telemetry/zone_enabled", ZoneEnabled);
  benchmark::RegisterBenchmark("telemetry/file_sustained", FileSustained)->UseRealTime();
  benchmark::RegisterBenchmark("telemetry/file_pipeline_one_thread", FilePipelineOneThread);
  return true;
}();

}  // namespace
}  // namespace fm::traces
