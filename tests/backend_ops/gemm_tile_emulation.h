#pragma once
// The Linear GEMM kernel (kernels/cuda/ops/linear_gemm.cu) run on the CPU: every block's 256
// threads go through the same GemmTile phases (kernels/cuda/ops/gemm_tile.h) in the kernel's order,
// one phase for all threads before the next, which is what the kernel's barriers guarantee. fmaf is
// IEEE fused on both sides, so the GPU's output must equal this bit for bit.

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cuda/ops/gemm_tile.h"

namespace fm::kernels::test_util {

template <WeightFormat F, int kTile>
void EmulateLinearGemmTile(const WeightView& w, const float* x, int64_t n_x, float* y,
                           bool vector_loads) {
  using Tile = cuda::GemmTile<F, kTile>;
  auto shared = std::make_unique<typename Tile::Shared>();
  std::vector<typename Tile::Thread> t(cuda::kGemmThreads);
  const int64_t n_stages = (w.cols + cuda::kGemmDepth - 1) / cuda::kGemmDepth;
  for (int64_t m0 = 0; m0 < n_x; m0 += kTile) {
    for (int64_t n0 = 0; n0 < w.rows; n0 += kTile) {
      for (int tid = 0; tid < cuda::kGemmThreads; ++tid) {
        Tile::Clear(t[tid]);
        Tile::Load(w, x, n_x, vector_loads, tid, n0, m0, 0, t[tid]);
        Tile::Store(tid, t[tid], *shared);
      }
      for (int64_t s = 0; s < n_stages; ++s) {
        const bool more = s + 1 < n_stages;
        for (int tid = 0; tid < cuda::kGemmThreads; ++tid) {
          if (more)
            Tile::Load(w, x, n_x, vector_loads, tid, n0, m0, (s + 1) * cuda::kGemmDepth, t[tid]);
          Tile::Compute(tid, *shared, t[tid]);
        }
        if (more) {
          for (int tid = 0; tid < cuda::kGemmThreads; ++tid) Tile::Store(tid, t[tid], *shared);
        }
      }
      for (int tid = 0; tid < cuda::kGemmThreads; ++tid)
        Tile::Write(tid, t[tid], n_x, w.rows, n0, m0, y);
    }
  }
}

template <WeightFormat F>
void EmulateLinearGemmFormat(const WeightView& w, const float* x, int64_t n_x, float* y, int tile,
                             bool vector_loads) {
  if (tile == 32) EmulateLinearGemmTile<F, 32>(w, x, n_x, y, vector_loads);
  if (tile == 64) EmulateLinearGemmTile<F, 64>(w, x, n_x, y, vector_loads);
  if (tile == 128) EmulateLinearGemmTile<F, 128>(w, x, n_x, y, vector_loads);
}

// y[n_x][w.rows] as the GEMM kernel with `tile` (32, 64 or 128) computes it. Host pointers.
inline void EmulateLinearGemm(const WeightView& w, const float* x, int64_t n_x, float* y, int tile,
                              bool vector_loads) {
  switch (w.format) {
    case WeightFormat::kF32:
      return EmulateLinearGemmFormat<WeightFormat::kF32>(w, x, n_x, y, tile, vector_loads);
    case WeightFormat::kBF16:
      return EmulateLinearGemmFormat<WeightFormat::kBF16>(w, x, n_x, y, tile, vector_loads);
    case WeightFormat::kF16:
      return EmulateLinearGemmFormat<WeightFormat::kF16>(w, x, n_x, y, tile, vector_loads);
    case WeightFormat::kFP8Block128:
      return EmulateLinearGemmFormat<WeightFormat::kFP8Block128>(w, x, n_x, y, tile, vector_loads);
    case WeightFormat::kMXFP4:
      return EmulateLinearGemmFormat<WeightFormat::kMXFP4>(w, x, n_x, y, tile, vector_loads);
  }
}

}  // namespace fm::kernels::test_util
