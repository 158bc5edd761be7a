// y[n_rows][w.rows] = x[n_rows][w.cols] W^T with W read in its stored format (F32, BF16, F16, FP8
// e4m3 with 128x128 ue8m0 block scales, MXFP4 with e8m0 scales per 32 columns) and decoded by the
// shared decoders of kernels/numeric_formats.h. One warp per output row; each lane takes 8
// consecutive columns per step (one 16-, 8- or 4-byte load of weights), up to 4 activation rows
// share each weight load. Not tuned beyond that (no tensor cores, no split-K): a correct baseline
// for the parity tests and the first GPU numbers.

#include "kernels/cuda/ops.cuh"
#include "kernels/numeric_formats.h"

namespace fm::kernels::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kRowsPerPass = 4;

// Weight (row, col), scalar path.
__device__ float WeightAt(const WeightView& w, int64_t row, int64_t col) {
  switch (w.format) {
    case WeightFormat::kF32:
      return static_cast<const float*>(w.data)[row * w.cols + col];
    case WeightFormat::kBF16:
      return Bf16ToFloat(static_cast<const uint16_t*>(w.data)[row * w.cols + col]);
    case WeightFormat::kF16:
      return F16ToFloat(static_cast<const uint16_t*>(w.data)[row * w.cols + col]);
    case WeightFormat::kFP8Block128:
      return E4m3ToFloat(static_cast<const uint8_t*>(w.data)[row * w.cols + col]) *
             E8m0ToFloat(w.scale[(row / 128) * w.scale_cols + col / 128]);
    case WeightFormat::kMXFP4: {
      const uint8_t b = static_cast<const uint8_t*>(w.data)[row * (w.cols / 2) + col / 2];
      return E2m1ToFloat((col & 1) ? (b >> 4) : (b & 0xf)) *
             E8m0ToFloat(w.scale[row * w.scale_cols + col / 32]);
    }
  }
  return 0.0f;
}

// The 8 weights of columns [8c, 8c + 8) of `row`.
__device__ void Weights8(const WeightView& w, int64_t row, int64_t c, float out[8]) {
  const int64_t col = 8 * c;
  switch (w.format) {
    case WeightFormat::kF32: {
      const float4* p =
          reinterpret_cast<const float4*>(static_cast<const float*>(w.data) + row * w.cols + col);
      const float4 a = p[0], b = p[1];
      out[0] = a.x;
      out[1] = a.y;
      out[2] = a.z;
      out[3] = a.w;
      out[4] = b.x;
      out[5] = b.y;
      out[6] = b.z;
      out[7] = b.w;
      return;
    }
    case WeightFormat::kBF16:
    case WeightFormat::kF16: {
      const uint4 v = *reinterpret_cast<const uint4*>(static_cast<const uint16_t*>(w.data) +
                                                      row * w.cols + col);
      const uint32_t words[4] = {v.x, v.y, v.z, v.w};
      for (int i = 0; i < 4; ++i) {
        const uint16_t lo = static_cast<uint16_t>(words[i] & 0xffffu),
                       hi = static_cast<uint16_t>(words[i] >> 16);
        out[2 * i] = w.format == WeightFormat::kBF16 ? Bf16ToFloat(lo) : F16ToFloat(lo);
        out[2 * i + 1] = w.format == WeightFormat::kBF16 ? Bf16ToFloat(hi) : F16ToFloat(hi);
      }
      return;
    }
    case WeightFormat::kFP8Block128: {
      const uint2 v =
          *reinterpret_cast<const uint2*>(static_cast<const uint8_t*>(w.data) + row * w.cols + col);
      const float s = E8m0ToFloat(w.scale[(row / 128) * w.scale_cols + col / 128]);
      for (int i = 0; i < 4; ++i) out[i] = E4m3ToFloat(static_cast<uint8_t>(v.x >> (8 * i))) * s;
      for (int i = 0; i < 4; ++i)
        out[4 + i] = E4m3ToFloat(static_cast<uint8_t>(v.y >> (8 * i))) * s;
      return;
    }
    case WeightFormat::kMXFP4: {
      const uint32_t v = *reinterpret_cast<const uint32_t*>(static_cast<const uint8_t*>(w.data) +
                                                            row * (w.cols / 2) + col / 2);
      const float s = E8m0ToFloat(w.scale[row * w.scale_cols + col / 32]);
      for (int i = 0; i < 8; ++i)
        out[i] = E2m1ToFloat(static_cast<uint8_t>((v >> (4 * i)) & 0xfu)) * s;
      return;
    }
  }
}

__global__ void __launch_bounds__(kWarps * 32)
    linear_kernel(WeightView w, const float* x, int64_t n_x, float* y, bool vector) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= w.rows) return;
  for (int64_t t0 = 0; t0 < n_x; t0 += kRowsPerPass) {
    const int nt = static_cast<int>(n_x - t0 < kRowsPerPass ? n_x - t0 : kRowsPerPass);
    float acc[kRowsPerPass] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (vector) {
      for (int64_t c = lane; c < w.cols / 8; c += 32) {
        float wv[8];
        Weights8(w, row, c, wv);
#pragma unroll
        for (int t = 0; t < kRowsPerPass; ++t) {
          if (t >= nt) break;
          const float4* xp = reinterpret_cast<const float4*>(x + (t0 + t) * w.cols + 8 * c);
          const float4 a = xp[0], b = xp[1];
          acc[t] += wv[0] * a.x + wv[1] * a.y + wv[2] * a.z + wv[3] * a.w + wv[4] * b.x +
                    wv[5] * b.y + wv[6] * b.z + wv[7] * b.w;
        }
      }
    } else {
      for (int64_t col = lane; col < w.cols; col += 32) {
        const float wv = WeightAt(w, row, col);
        for (int t = 0; t < nt; ++t) acc[t] += wv * x[(t0 + t) * w.cols + col];
      }
    }
#pragma unroll
    for (int t = 0; t < kRowsPerPass; ++t) {
      float v = acc[t];
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0 && t < nt) y[(t0 + t) * w.rows + row] = v;
    }
  }
}

bool Aligned(const void* p, uintptr_t a) { return (reinterpret_cast<uintptr_t>(p) % a) == 0; }

}  // namespace

cudaError_t LaunchLinear(const WeightView& w, const float* x, int64_t n_rows, float* y,
                         cudaStream_t stream) {
  if (n_rows == 0 || w.rows == 0) return cudaSuccess;
  // 8-column chunks need cols % 8 == 0 and aligned bases (cudaMalloc gives 256-byte alignment;
  // views into a larger buffer may not have it).
  const bool vector = w.cols % 8 == 0 && Aligned(w.data, 16) && Aligned(x, 16);
  linear_kernel<<<static_cast<unsigned>((w.rows + kWarps - 1) / kWarps), kWarps * 32, 0, stream>>>(
      w, x, n_rows, y, vector);
  return cudaGetLastError();
}

}  // namespace fm::kernels::cuda
