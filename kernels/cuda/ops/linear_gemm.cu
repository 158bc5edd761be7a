// Tiled fp32 GEMM for Linear on prefill-sized batches: y[M][N] = x[M][K] W[N][K]^T, W decoded from
// its stored format (F32, BF16, F16, FP8 e4m3 + 128x128 ue8m0 blocks, MXFP4 + e8m0 per 32 columns)
// while it is staged into shared memory, so no dequantised copy of W ever exists in device memory.
//
// Why fp32 FMAs and not cuBLAS / tensor cores: the op's contract is fp32 activations (the CPU
// reference), and a BF16 tensor-core GEMM would round x to bf16 (relative error ~4e-3, far outside
// the parity tolerance); cublasSgemm would need W dequantised to a rows*cols*4-byte workspace per
// call. A tensor-core path (bf16x3 / TF32x3 split, or wgmma on sm_90a) is the next step once the
// GPU shows where the time goes.
//
// The block's phases (loads, transposed stores, FMAs, writes) live in gemm_tile.h as host/device
// code, so a CPU test runs the same tile arithmetic; this file only sequences them with barriers.

#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/ops/gemm_tile.h"
#include "kernels/cuda/ops/linear_gemm.cuh"
#include "kernels/cuda/ops/sm_count.h"

namespace fm::kernels::cuda {
namespace {

template <WeightFormat F, int kTile>
__global__ void __launch_bounds__(kGemmThreads)
    linear_gemm_kernel(WeightView w, const float* x, int64_t n_x, float* y, bool vector_loads) {
  using Tile = GemmTile<F, kTile>;
  __shared__ typename Tile::Shared shared;
  typename Tile::Thread t;
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * kTile;
  Tile::Clear(t);
  const int64_t n_stages = (w.cols + kGemmDepth - 1) / kGemmDepth;
  Tile::Load(w, x, n_x, vector_loads, tid, n0, m0, 0, t);
  Tile::Store(tid, t, shared);
  __syncthreads();
  for (int64_t s = 0; s < n_stages; ++s) {
    const bool more = s + 1 < n_stages;
    // The next stage's global loads are in flight during this stage's FMAs.
    if (more) Tile::Load(w, x, n_x, vector_loads, tid, n0, m0, (s + 1) * kGemmDepth, t);
    Tile::Compute(tid, shared, t);
    __syncthreads();
    if (more) {
      Tile::Store(tid, t, shared);
      __syncthreads();
    }
  }
  Tile::Write(tid, t, n_x, w.rows, n0, m0, y);
}

template <WeightFormat F>
cudaError_t LaunchForFormat(const WeightView& w, const float* x, int64_t n_x, float* y,
                            const LinearPlan& plan, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(plan.grid_x), static_cast<unsigned>(plan.grid_y));
  switch (plan.tile) {
    case 32:
      linear_gemm_kernel<F, 32><<<grid, kGemmThreads, 0, stream>>>(w, x, n_x, y, plan.vector_loads);
      break;
    case 64:
      linear_gemm_kernel<F, 64><<<grid, kGemmThreads, 0, stream>>>(w, x, n_x, y, plan.vector_loads);
      break;
    case 128:
      linear_gemm_kernel<F, 128>
          <<<grid, kGemmThreads, 0, stream>>>(w, x, n_x, y, plan.vector_loads);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

cudaError_t LaunchLinearGemm(const WeightView& w, const float* x, int64_t n_x, float* y,
                             const LinearPlan& plan, cudaStream_t stream) {
  if (plan.kernel != LinearKernel::kGemm || plan.tile <= 0 || plan.threads != kGemmThreads ||
      plan.grid_x * plan.tile < w.rows || plan.grid_y * plan.tile < n_x ||
      plan.grid_y > kMaxGridY || plan.grid_x > 0x7fffffff ||
      (plan.vector_loads && (w.cols % 4 != 0 || !Aligned16(w.data) || !Aligned16(x)))) {
    return cudaErrorInvalidValue;
  }
  if (n_x == 0 || w.rows == 0) return cudaSuccess;
  switch (w.format) {
    case WeightFormat::kF32:
      return LaunchForFormat<WeightFormat::kF32>(w, x, n_x, y, plan, stream);
    case WeightFormat::kBF16:
      return LaunchForFormat<WeightFormat::kBF16>(w, x, n_x, y, plan, stream);
    case WeightFormat::kF16:
      return LaunchForFormat<WeightFormat::kF16>(w, x, n_x, y, plan, stream);
    case WeightFormat::kFP8Block128:
      return LaunchForFormat<WeightFormat::kFP8Block128>(w, x, n_x, y, plan, stream);
    case WeightFormat::kMXFP4:
      return LaunchForFormat<WeightFormat::kMXFP4>(w, x, n_x, y, plan, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchLinearPlanned(const WeightView& w, const float* x, int64_t n_x, float* y,
                                cudaStream_t stream) {
  LinearShape shape;
  shape.format = w.format;
  shape.rows = w.rows;
  shape.cols = w.cols;
  shape.n_x = n_x;
  shape.data_aligned_16 = Aligned16(w.data) && Aligned16(x);
  if (cudaError_t e = CurrentDeviceSmCount(&shape.sm_count); e != cudaSuccess) return e;
  const LinearPlan plan = PlanLinear(shape);
  switch (plan.kernel) {
    case LinearKernel::kNone:
      return cudaSuccess;
    case LinearKernel::kGemv:
      return LaunchLinear(w, x, n_x, y, stream);
    case LinearKernel::kGemm:
      return LaunchLinearGemm(w, x, n_x, y, plan, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace fm::kernels::cuda
