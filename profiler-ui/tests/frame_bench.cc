// Frame cost with a 1M-token trace (4096 pages x 21 CSA layers): CPU time per frame of DrawApp on
// the null renderer, split into "preprocess" (our model work: residency seek, heatmap image,
// decimation, stats) and the rest (ImGui draw-list building). GL upload/raster is not included;
// `flashmem-ui --screenshot` prints the same numbers from a real window.

#include <benchmark/benchmark.h>

#include "profiler-ui/tests/null_frame.h"
#include "profiler-ui/tests/synth_fixture.h"

namespace fm::ui {
namespace {

const Store& MillionTokenStore() {
  static const Store* store = [] {
    testing::FixtureConfig cfg;
    cfg.pages = 4096;
    cfg.steps = 4096;
    cfg.copies_per_cycle = 64;
    auto* s = new Store();
    for (const testing::FixtureFrame& f : testing::MakeFixtureFrames(cfg)) {
      (void)s->IngestFrame(static_cast<uint16_t>(f.kind), f.payload);
    }
    s->Commit();
    return s;
  }();
  return *store;
}

void Run(benchmark::State& state, bool playing) {
  const Store& s = MillionTokenStore();
  testing::NullUi ui(1600, 900);
  ViewState v;
  AppInputs in;
  in.store = &s;
  v.cursor_ns = playing ? s.first_ns() : s.last_ns();
  v.playing = playing;
  v.play_speed = 4.0;  // 67 ms of session per frame: a τ-cycle of page events every few frames
  double pre = 0, cpu = 0;
  int64_t frames = 0;
  for (auto _ : state) {
    if (playing && !v.playing) {
      v.cursor_ns = s.first_ns();
      v.playing = true;
    }
    ui.Frame(v, in);
    pre += v.preprocess_ms;
    cpu += v.frame_cpu_ms;
    ++frames;
  }
  state.counters["preprocess_ms"] = pre / static_cast<double>(frames);
  state.counters["frame_cpu_ms"] = cpu / static_cast<double>(frames);
  state.counters["vertices"] = ui.last_vertices();
  state.counters["pages"] = 4096;
}

void BM_Frame1MTokensPlaying(benchmark::State& state) { Run(state, true); }
void BM_Frame1MTokensStill(benchmark::State& state) { Run(state, false); }
BENCHMARK(BM_Frame1MTokensPlaying)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Frame1MTokensStill)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fm::ui

BENCHMARK_MAIN();
