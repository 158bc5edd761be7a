// Row-wise and element-wise ops and the FP8 codecs (kernels/backend.h semantics). Arithmetic that
// the CPU reference does in a fixed order is done here in the same order with explicit _rn
// intrinsics where nvcc would otherwise contract a*b+c into an FMA (the CPU build disables
// contraction), so most results match the CPU bit for bit; see tests/backend_ops for tolerances.

#include <cmath>

#include "kernels/cuda/ops.cuh"
#include "kernels/fp8_entry_codecs.h"

namespace fm::kernels::cuda {
namespace {

constexpr int kThreads = 256;

unsigned Blocks(int64_t n, int per_block) {
  return static_cast<unsigned>((n + per_block - 1) / per_block);
}

// Sum over the block in double (the CPU reference accumulates in double too, so the result is
// independent of the order up to double rounding). Every thread gets the total.
__device__ double BlockSumDouble(double v) {
  __shared__ double warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  double total = 0.0;
  for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
  __syncthreads();
  return total;
}

__global__ void __launch_bounds__(kThreads) rmsnorm_kernel(RmsNormParams p) {
  const float* x = p.x + blockIdx.x * p.dim;
  float* y = p.y + blockIdx.x * p.dim;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < p.dim; i += kThreads) ss += static_cast<double>(x[i]) * x[i];
  ss = BlockSumDouble(ss);
  const float inv = static_cast<float>(1.0 / sqrt(ss / static_cast<double>(p.dim) + p.eps));
  for (int64_t i = threadIdx.x; i < p.dim; i += kThreads) {
    const float v = __fmul_rn(x[i], inv);
    y[i] = p.weight != nullptr ? __fmul_rn(p.weight[i], v) : v;
  }
}

// One thread per (row, pair); the angle's cos/sin in double, as the CPU reference computes them.
__global__ void __launch_bounds__(kThreads) rope_kernel(RopeParams p) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (t >= p.n_rows * p.n_pairs) return;
  const int64_t r = t / p.n_pairs, i = t % p.n_pairs;
  const float angle = __fmul_rn(static_cast<float>(p.positions[r]), p.inv_freq[i]);
  const float c = static_cast<float>(cos(static_cast<double>(angle)));
  float s = static_cast<float>(sin(static_cast<double>(angle)));
  if (p.inverse) s = -s;
  for (int64_t h = 0; h < p.n_heads; ++h) {
    float* v = p.x + (r * p.n_heads + h) * p.head_stride + p.rope_offset + 2 * i;
    const float a = v[0], b = v[1];
    v[0] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    v[1] = __fadd_rn(__fmul_rn(a, s), __fmul_rn(b, c));
  }
}

// One block per vector in shared memory; the butterflies are the CPU's (Sylvester order, a+b and
// a-b at each stage), so the result is bit-identical.
__global__ void __launch_bounds__(kThreads) hadamard_kernel(HadamardParams p, float scale) {
  extern __shared__ float buf[];
  float* x = p.x + blockIdx.x * p.dim;
  for (int64_t i = threadIdx.x; i < p.dim; i += kThreads) buf[i] = x[i];
  __syncthreads();
  for (int64_t h = 1; h < p.dim; h *= 2) {
    for (int64_t t = threadIdx.x; t < p.dim / 2; t += kThreads) {
      const int64_t j = (t / h) * 2 * h + t % h;
      const float a = buf[j], b = buf[j + h];
      buf[j] = __fadd_rn(a, b);
      buf[j + h] = __fsub_rn(a, b);
    }
    __syncthreads();
  }
  for (int64_t i = threadIdx.x; i < p.dim; i += kThreads) x[i] = __fmul_rn(buf[i], scale);
}

__global__ void __launch_bounds__(kThreads) swiglu_kernel(SwigluParams p) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (i >= p.n_rows * p.dim) return;
  float g = p.gate[i], u = p.up[i];
  if (p.limit > 0.0f) {
    g = fminf(g, p.limit);
    u = fminf(fmaxf(u, -p.limit), p.limit);
  }
  // exp in double, rounded once: matches a correctly rounded expf on the CPU.
  const float e = static_cast<float>(exp(-static_cast<double>(g)));
  const float silu = __fdiv_rn(g, __fadd_rn(1.0f, e));
  const float rs = p.row_scale != nullptr ? p.row_scale[i / p.dim] : 1.0f;
  p.out[i] = __fmul_rn(__fmul_rn(silu, u), rs);
}

// Codecs: one thread per entry running the shared per-entry code (kernels/fp8_entry_codecs.h).
__global__ void __launch_bounds__(kThreads) quantize_kv_kernel(KvCodecParams p) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (n >= p.n_entries) return;
  QuantizeKvEntry(p.values + n * (p.nope_dims + p.rope_dims), p.nope_dims, p.rope_dims,
                  p.bytes + n * KvEntryBytes(p.nope_dims, p.rope_dims));
}

__global__ void __launch_bounds__(kThreads) dequantize_kv_kernel(KvCodecParams p) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (n >= p.n_entries) return;
  DequantizeKvEntry(p.bytes + n * KvEntryBytes(p.nope_dims, p.rope_dims), p.nope_dims, p.rope_dims,
                    p.values + n * (p.nope_dims + p.rope_dims));
}

__global__ void __launch_bounds__(kThreads) quantize_index_key_kernel(IndexKeyCodecParams p) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (n >= p.n_entries) return;
  QuantizeIndexKeyEntry(p.values + n * p.dim, p.dim, p.bytes + n * IndexKeyBytes(p.dim));
}

__global__ void __launch_bounds__(kThreads) dequantize_index_key_kernel(IndexKeyCodecParams p) {
  const int64_t n = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (n >= p.n_entries) return;
  DequantizeIndexKeyEntry(p.bytes + n * IndexKeyBytes(p.dim), p.dim, p.values + n * p.dim);
}

// ---- mHC mixing (HcPre / HcPost) and compressor pooling ----
__device__ float SigmoidF(float x) {
  return __fdiv_rn(1.0f, __fadd_rn(1.0f, static_cast<float>(exp(-static_cast<double>(x)))));
}

// The CPU's SinkhornProject, serially on one thread (n_hc is 4 for Flash).
__device__ void SinkhornSerial(float* c, int64_t n, int64_t iters, float eps) {
  for (int64_t i = 0; i < n; ++i) {
    float* row = c + i * n;
    float mx = row[0];
    for (int64_t j = 1; j < n; ++j) mx = fmaxf(mx, row[j]);
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      row[j] = static_cast<float>(exp(static_cast<double>(__fsub_rn(row[j], mx))));
      sum = __fadd_rn(sum, row[j]);
    }
    for (int64_t j = 0; j < n; ++j) row[j] = __fadd_rn(__fdiv_rn(row[j], sum), eps);
  }
  const int64_t passes = iters > 1 ? iters : 1;  // the CPU normalises the columns at least once
  for (int64_t it = 0; it < passes; ++it) {
    if (it > 0) {  // rows, then columns, after the first column pass
      for (int64_t i = 0; i < n; ++i) {
        float sum = 0.0f;
        for (int64_t j = 0; j < n; ++j) sum = __fadd_rn(sum, c[i * n + j]);
        for (int64_t j = 0; j < n; ++j) c[i * n + j] = __fdiv_rn(c[i * n + j], __fadd_rn(sum, eps));
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int64_t i = 0; i < n; ++i) sum = __fadd_rn(sum, c[i * n + j]);
      for (int64_t i = 0; i < n; ++i) c[i * n + j] = __fdiv_rn(c[i * n + j], __fadd_rn(sum, eps));
    }
  }
}

constexpr int64_t kMaxMix = 255;  // the CPU op's bound: (2 + n_hc) * n_hc <= 255

__global__ void __launch_bounds__(kThreads) hc_pre_kernel(HcPreParams p) {
  __shared__ float mix[kMaxMix];
  __shared__ float pre[kMaxMix];
  const int64_t r = blockIdx.x;
  const int64_t flat = p.n_hc * p.dim;
  const float* x = p.x + r * flat;
  double ss = 0.0;
  for (int64_t i = threadIdx.x; i < flat; i += kThreads) ss += static_cast<double>(x[i]) * x[i];
  ss = BlockSumDouble(ss);
  const float rho = static_cast<float>(1.0 / sqrt(ss / static_cast<double>(flat) + p.norm_eps));
  for (int64_t k = threadIdx.x; k < p.n_mix; k += kThreads) {
    mix[k] = __fmul_rn(p.mixes_raw[r * p.n_mix + k], rho);
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < p.n_hc; i += kThreads) {
    pre[i] = __fadd_rn(SigmoidF(__fadd_rn(__fmul_rn(mix[i], p.scale[0]), p.base[i])), p.hc_eps);
  }
  __syncthreads();
  for (int64_t d = threadIdx.x; d < p.dim; d += kThreads) {
    float acc = 0.0f;
    for (int64_t i = 0; i < p.n_hc; ++i) acc = __fadd_rn(acc, __fmul_rn(pre[i], x[i * p.dim + d]));
    p.y[r * p.dim + d] = acc;
  }
  if (p.post == nullptr || threadIdx.x != 0) return;
  for (int64_t i = 0; i < p.n_hc; ++i) {
    const int64_t k = p.n_hc + i;
    p.post[r * p.n_hc + i] = 2.0f * SigmoidF(__fadd_rn(__fmul_rn(mix[k], p.scale[1]), p.base[k]));
  }
  float* comb = p.comb + r * p.n_hc * p.n_hc;
  for (int64_t k = 0; k < p.n_hc * p.n_hc; ++k) {
    const int64_t m = 2 * p.n_hc + k;
    comb[k] = __fadd_rn(__fmul_rn(mix[m], p.scale[2]), p.base[m]);
  }
  SinkhornSerial(comb, p.n_hc, p.sinkhorn_iters, p.hc_eps);
}

// One thread per output element (row, stream j, dim d), summed in the CPU's order.
__global__ void __launch_bounds__(kThreads) hc_post_kernel(HcPostParams p) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (t >= p.n_rows * p.n_hc * p.dim) return;
  const int64_t d = t % p.dim, j = (t / p.dim) % p.n_hc, r = t / (p.dim * p.n_hc);
  const float* res = p.residual + r * p.n_hc * p.dim;
  const float* comb = p.comb + r * p.n_hc * p.n_hc;
  float acc = __fmul_rn(p.post[r * p.n_hc + j], p.y[r * p.dim + d]);
  for (int64_t i = 0; i < p.n_hc; ++i)
    acc = __fadd_rn(acc, __fmul_rn(comb[i * p.n_hc + j], res[i * p.dim + d]));
  p.out[t] = acc;
}

__global__ void __launch_bounds__(kThreads) softmax_pool_kernel(SoftmaxPoolParams p) {
  const int64_t d = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x;
  if (d >= p.dim) return;
  float mx = -INFINITY;
  for (int64_t s = 0; s < p.n_slots; ++s) mx = fmaxf(mx, p.scores[s * p.dim + d]);
  float denom = 0.0f, acc = 0.0f;
  for (int64_t s = 0; s < p.n_slots; ++s) {
    const float sc = p.scores[s * p.dim + d];
    if (sc == -INFINITY) continue;  // masked slot
    const float e = static_cast<float>(exp(static_cast<double>(__fsub_rn(sc, mx))));
    denom = __fadd_rn(denom, e);
    acc = __fadd_rn(acc, __fmul_rn(e, p.values[s * p.dim + d]));
  }
  p.out[d] = __fdiv_rn(acc, denom);
}

}  // namespace

cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream) {
  if (p.n_rows == 0) return cudaSuccess;
  rmsnorm_kernel<<<static_cast<unsigned>(p.n_rows), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchRope(const RopeParams& p, cudaStream_t stream) {
  if (p.n_rows == 0 || p.n_pairs == 0) return cudaSuccess;
  rope_kernel<<<Blocks(p.n_rows * p.n_pairs, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchHadamard(const HadamardParams& p, cudaStream_t stream) {
  if (p.n_vectors == 0) return cudaSuccess;
  // The same expression as the CPU op, so the scale is the same float.
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.dim)));
  const size_t shared = static_cast<size_t>(p.dim) * sizeof(float);
  hadamard_kernel<<<static_cast<unsigned>(p.n_vectors), kThreads, shared, stream>>>(p, scale);
  return cudaGetLastError();
}

cudaError_t LaunchSwiglu(const SwigluParams& p, cudaStream_t stream) {
  if (p.n_rows == 0) return cudaSuccess;
  swiglu_kernel<<<Blocks(p.n_rows * p.dim, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchQuantizeKv(const KvCodecParams& p, cudaStream_t stream) {
  if (p.n_entries == 0) return cudaSuccess;
  quantize_kv_kernel<<<Blocks(p.n_entries, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchDequantizeKv(const KvCodecParams& p, cudaStream_t stream) {
  if (p.n_entries == 0) return cudaSuccess;
  dequantize_kv_kernel<<<Blocks(p.n_entries, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchQuantizeIndexKey(const IndexKeyCodecParams& p, cudaStream_t stream) {
  if (p.n_entries == 0) return cudaSuccess;
  quantize_index_key_kernel<<<Blocks(p.n_entries, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchDequantizeIndexKey(const IndexKeyCodecParams& p, cudaStream_t stream) {
  if (p.n_entries == 0) return cudaSuccess;
  dequantize_index_key_kernel<<<Blocks(p.n_entries, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchHcPre(const HcPreParams& p, cudaStream_t stream) {
  if (p.n_rows == 0) return cudaSuccess;
  hc_pre_kernel<<<static_cast<unsigned>(p.n_rows), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchHcPost(const HcPostParams& p, cudaStream_t stream) {
  if (p.n_rows == 0) return cudaSuccess;
  hc_post_kernel<<<Blocks(p.n_rows * p.n_hc * p.dim, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

cudaError_t LaunchSoftmaxPool(const SoftmaxPoolParams& p, cudaStream_t stream) {
  softmax_pool_kernel<<<Blocks(p.dim, kThreads), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace fm::kernels::cuda
