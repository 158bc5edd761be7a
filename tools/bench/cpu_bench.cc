// `flashmem bench cpu`: GEMV throughput on BF16 / FP8 (128x128 block scales) / MXFP4 weights as a
// ratio of the STREAM-copy bandwidth measured in the same run (goal >= 0.70). Weights are 64 MiB
// each, twice the L3 of the CI machines, so every iteration streams them from DRAM.

#include <cstring>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "kernels/cpu/linear.h"
#include "kernels/cpu/thread_pool.h"

namespace fm::bench {
namespace {

using kernels::WeightFormat;
using kernels::WeightView;
using kernels::cpu::ThreadPool;

constexpr int64_t kStreamBytes = int64_t{64} << 20;

ThreadPool& Pool() {
  static ThreadPool pool(0);  // benchmark-local pool, sized to the machine
  return pool;
}

// STREAM "copy" (a[i] = b[i]) over the same thread pool; bytes = read + write, as STREAM counts.
void BM_StreamCopy(benchmark::State& state) {
  const int64_t n = kStreamBytes / 4;
  std::vector<float> a(static_cast<size_t>(n), 1.0f), b(static_cast<size_t>(n), 2.0f);
  for (auto _ : state) {
    Pool().ParallelFor(n, 1 << 16, [&](int64_t b0, int64_t b1) {
      std::memcpy(a.data() + b0, b.data() + b0, static_cast<size_t>(b1 - b0) * 4);
    });
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * 2 * kStreamBytes);
}

struct Matrix {
  std::vector<uint8_t> data;
  std::vector<uint8_t> scale;
  WeightView view;
};

Matrix MakeMatrix(WeightFormat format, int64_t rows, int64_t cols) {
  Matrix m;
  std::mt19937 rng(1);
  int64_t data_bytes = 0, scale_cols = 0, scale_rows = 0;
  switch (format) {
    case WeightFormat::kBF16: data_bytes = rows * cols * 2; break;
    case WeightFormat::kFP8Block128:
      data_bytes = rows * cols;
      scale_rows = (rows + 127) / 128;
      scale_cols = (cols + 127) / 128;
      break;
    case WeightFormat::kMXFP4:
      data_bytes = rows * cols / 2;
      scale_rows = rows;
      scale_cols = cols / 32;
      break;
    default: break;
  }
  m.data.resize(static_cast<size_t>(data_bytes));
  for (auto& b : m.data) b = static_cast<uint8_t>(rng() & 0x77);  // finite codes only
  m.scale.assign(static_cast<size_t>(scale_rows * scale_cols), 120);
  m.view = WeightView{format, rows, cols, m.data.data(), m.scale.empty() ? nullptr : m.scale.data(),
                      scale_cols};
  return m;
}

void RunGemv(benchmark::State& state, WeightFormat format, int64_t rows, int64_t cols, int64_t n_x) {
  Matrix m = MakeMatrix(format, rows, cols);
  std::vector<float> x(static_cast<size_t>(n_x * cols), 0.5f), y(static_cast<size_t>(n_x * rows));
  for (auto _ : state) {
    kernels::cpu::Linear(m.view, x.data(), n_x, y.data(), &Pool());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * m.view.StoredBytes());
  state.counters["flops"] = benchmark::Counter(
      static_cast<double>(2 * rows * cols * n_x), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_GemvBf16(benchmark::State& s) { RunGemv(s, WeightFormat::kBF16, 4096, 8192, 1); }
void BM_GemvFp8(benchmark::State& s) { RunGemv(s, WeightFormat::kFP8Block128, 8192, 8192, 1); }
void BM_GemvFp4(benchmark::State& s) { RunGemv(s, WeightFormat::kMXFP4, 16384, 8192, 1); }
void BM_Gemm16Fp8(benchmark::State& s) { RunGemv(s, WeightFormat::kFP8Block128, 8192, 8192, 16); }

BENCHMARK(BM_StreamCopy)->Name("cpu/baseline_stream_copy")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GemvBf16)->Name("cpu/gemv_bf16_4096x8192")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GemvFp8)->Name("cpu/gemv_fp8_8192x8192")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GemvFp4)->Name("cpu/gemv_fp4_16384x8192")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Gemm16Fp8)->Name("cpu/gemm16_fp8_8192x8192")->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace fm::bench
