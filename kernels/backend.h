#pragma once
// KernelBackend: the one op interface of the forward pass (DESIGN.md §1, kernels/). Each op takes a
// POD Params struct of raw pointers and counts, so the same call shape serves the fp32 CPU
// reference (kernels/cpu) now and CUDA launchers later. Plain C++ only (no absl, no STL
// containers): .cu files include this header.
//
// Conventions: all activations are fp32, row-major. "rows" are tokens (or token x head pairs).
// Every op returns OpStatus; kBadParams means a null pointer or an impossible count reached the
// op (a caller bug, reported instead of crashing).

#include <cstdint>

#include "kernels/weight_view.h"

namespace fm::kernels {

enum class OpStatus : uint8_t { kOk = 0, kBadParams = 1, kDeviceError = 2 };

// y[n_rows, w.rows] = x[n_rows, w.cols] * W^T, W dequantised on the fly from its stored format.
struct LinearParams {
  const WeightView* w = nullptr;
  const float* x = nullptr;
  int64_t n_rows = 0;
  float* y = nullptr;
};

// y = x / sqrt(mean(x^2) + eps) * weight, per row of `dim` elements. weight == nullptr: no weight
// (the per-head q normalisation). x and y may alias.
struct RmsNormParams {
  const float* x = nullptr;
  const float* weight = nullptr;
  float* y = nullptr;
  int64_t n_rows = 0;
  int64_t dim = 0;
  float eps = 1e-6f;
};

// Interleaved-pair rotary embedding on dims [rope_offset, rope_offset + 2*n_pairs) of every head.
// x: [n_rows][n_heads][head_stride] (row stride n_heads*head_stride). Pair i of a row at position
// p rotates by angle fp32(p) * inv_freq[i] (rounded to fp32, as the reference computes it);
// inverse rotates by the negated angle (undoes the forward rotation).
struct RopeParams {
  float* x = nullptr;
  int64_t n_rows = 0;
  int64_t n_heads = 1;
  int64_t head_stride = 0;
  int64_t rope_offset = 0;
  int64_t n_pairs = 0;
  const int64_t* positions = nullptr;  // [n_rows]
  const float* inv_freq = nullptr;     // [n_pairs]
  bool inverse = false;
};

// RoPE on the last `rope_dims` of each of `n_heads` contiguous heads of `head_dim` (V4's layout:
// the rotated part is the tail of every head).
inline RopeParams HeadTailRope(float* x, int64_t n_rows, int64_t n_heads, int64_t head_dim,
                               int64_t rope_dims, const int64_t* positions, const float* inv_freq,
                               bool inverse = false) {
  RopeParams rp;
  rp.x = x;
  rp.n_rows = n_rows;
  rp.n_heads = n_heads;
  rp.head_stride = head_dim;
  rp.rope_offset = head_dim - rope_dims;
  rp.n_pairs = rope_dims / 2;
  rp.positions = positions;
  rp.inv_freq = inv_freq;
  rp.inverse = inverse;
  return rp;
}

// In-place orthonormal Walsh-Hadamard transform (Sylvester order, scale dim^-1/2) of n_vectors
// contiguous vectors of `dim` (a power of two) elements.
struct HadamardParams {
  float* x = nullptr;
  int64_t n_vectors = 0;
  int64_t dim = 0;
};

// mHC pre-mix for n_rows tokens with n_hc streams of width dim.
//   rho = (mean(x^2) + norm_eps)^-1/2 over the flattened n_hc*dim streams;
//   m = rho * mixes_raw (mixes_raw = fn . x, computed by a Linear beforehand);
//   pre_i = sigmoid(m_i * scale[0] + base_i) + hc_eps; y = sum_i pre_i * x_i.
// When post != nullptr (a decoder sublayer, n_mix = (2+n_hc)*n_hc) also:
//   post_i = 2 sigmoid(m_{n_hc+i} * scale[1] + base_{n_hc+i});
//   comb = Sinkhorn(m_{2n_hc..} * scale[2] + base_{2n_hc..}) (row-major n_hc x n_hc):
//   row softmax + hc_eps, column normalise, then (sinkhorn_iters-1) x (row, column) normalise,
//   each normalisation dividing by (sum + hc_eps).
// With post == nullptr (the head) n_mix = n_hc and only pre/y are produced.
struct HcPreParams {
  const float* x = nullptr;          // [n_rows][n_hc*dim]
  const float* mixes_raw = nullptr;  // [n_rows][n_mix]
  const float* scale = nullptr;      // [3] (or [1] for the head)
  const float* base = nullptr;       // [n_mix]
  int64_t n_rows = 0;
  int64_t n_hc = 0;
  int64_t dim = 0;
  int64_t n_mix = 0;
  int64_t sinkhorn_iters = 0;
  float norm_eps = 1e-6f;
  float hc_eps = 1e-6f;
  float* y = nullptr;     // [n_rows][dim]
  float* post = nullptr;  // [n_rows][n_hc] or nullptr
  float* comb = nullptr;  // [n_rows][n_hc][n_hc] or nullptr
};

// mHC post-mix: out_j = post_j * y + sum_i comb[i][j] * residual_i (C^T applied to the streams).
// out may not alias residual.
struct HcPostParams {
  const float* y = nullptr;         // [n_rows][dim]
  const float* residual = nullptr;  // [n_rows][n_hc][dim]
  const float* post = nullptr;      // [n_rows][n_hc]
  const float* comb = nullptr;      // [n_rows][n_hc][n_hc]
  int64_t n_rows = 0;
  int64_t n_hc = 0;
  int64_t dim = 0;
  float* out = nullptr;             // [n_rows][n_hc][dim]
};

// Compressor pooling: out[d] = sum_s softmax_s(scores[s][d]) * values[s][d] (softmax per feature
// over the n_slots slots). A score of -inf masks its slot; at least one slot must be unmasked.
struct SoftmaxPoolParams {
  const float* values = nullptr;  // [n_slots][dim]
  const float* scores = nullptr;  // [n_slots][dim]
  int64_t n_slots = 0;
  int64_t dim = 0;
  float* out = nullptr;           // [dim]
};

// Attention with a sink for one query token over n_kv gathered shared K=V entries:
//   a_{h,s} = scale * q_h . kv_s;  o_h = sum_s e^{a_{h,s}} kv_s / (sum_s e^{a_{h,s}} + e^{sink_h}).
// Heads [head_begin, head_end) are computed (lets callers split heads across threads).
struct SinkAttentionParams {
  const float* q = nullptr;     // [n_heads][head_dim]
  const float* kv = nullptr;    // [n_kv][head_dim]
  const float* sink = nullptr;  // [n_heads]
  int64_t n_kv = 0;
  int64_t n_heads = 0;
  int64_t head_dim = 0;
  int64_t head_begin = 0;
  int64_t head_end = 0;
  float scale = 1.0f;
  float* out = nullptr;         // [n_heads][head_dim]
  float* scratch = nullptr;     // [n_kv] logits workspace
};

// Lightning-indexer scores of one query against n_keys index keys:
//   score_j = sum_h weights[h] * relu(q_h . k_j).
// Keys are either fp32 (keys_f32, key_stride floats apart) or FP8 e4m3 (keys_fp8, key_stride
// bytes apart) with one fp32 scale per key read from key_scales + j * scale_stride bytes (so the
// scale may sit inline after each key, or in a separate array); exactly one form is given.
struct IndexerScoreParams {
  const float* q = nullptr;        // [n_heads][dim]
  const float* weights = nullptr;  // [n_heads]
  const float* keys_f32 = nullptr;
  const uint8_t* keys_fp8 = nullptr;
  const uint8_t* key_scales = nullptr;  // fp32 values, possibly unaligned
  int64_t scale_stride = 4;        // bytes between consecutive key scales
  int64_t key_stride = 0;          // elements (fp32) or bytes (fp8) between keys
  int64_t n_keys = 0;
  int64_t n_heads = 0;
  int64_t dim = 0;
  float* out = nullptr;            // [n_keys]
};

// Indices of the k largest scores, in descending score order; ties go to the lower index.
struct TopKParams {
  const float* scores = nullptr;
  int64_t n = 0;
  int64_t k = 0;
  int32_t* out = nullptr;  // [k]
};

// Score functions of RouteParams::score_func.
inline constexpr int32_t kScoreSqrtSoftplus = 0;
inline constexpr int32_t kScoreSigmoid = 1;
inline constexpr int32_t kScoreSoftmax = 2;

// MoE routing for n_rows tokens over n_experts:
//   s = score_func(logits) (0 sqrtsoftplus, 1 sigmoid, 2 softmax);
//   experts: tid2eid rows when given (hash routing), else top-k of s + bias (bias may be null);
//   weights: s at the chosen experts, divided by their sum when renormalise, times route_scale.
struct RouteParams {
  const float* logits = nullptr;        // [n_rows][n_experts]
  const float* bias = nullptr;          // [n_experts] or nullptr
  const int32_t* hash_experts = nullptr;  // [n_rows][k] (already looked up by token) or nullptr
  int64_t n_rows = 0;
  int64_t n_experts = 0;
  int64_t k = 0;
  int32_t score_func = 0;
  bool renormalise = true;
  float route_scale = 1.0f;
  int32_t* experts = nullptr;  // [n_rows][k]
  float* weights = nullptr;    // [n_rows][k]
};

// SwiGLU with clamp: out = silu(min(gate, limit)) * clamp(up, -limit, limit) * row_scale[row]
// (limit <= 0: no clamp; row_scale may be null). gate/up/out: [n_rows][dim]; out may alias gate.
struct SwigluParams {
  const float* gate = nullptr;
  const float* up = nullptr;
  const float* row_scale = nullptr;
  int64_t n_rows = 0;
  int64_t dim = 0;
  float limit = 0.0f;
  float* out = nullptr;
};

// FP8 KV entry codec (one entry of nope_dims + rope_dims values, the RoPE dims last):
//   bytes [0, nope): e4m3 no-RoPE values, tile t (64 dims) scaled by 2^ceil(log2(max(amax,1e-4)/448));
//   bytes [nope, nope + 2*rope): the RoPE dims as bf16;
//   then ceil(nope/64) ue8m0 scale bytes; the entry is padded to a multiple of 8 bytes
//   (Flash: 448 + 128 + 7 + 1 = 584 B).
struct KvCodecParams {
  int64_t nope_dims = 0;
  int64_t rope_dims = 0;
  int64_t n_entries = 0;
  float* values = nullptr;    // [n_entries][nope + rope] (input of quantise, output of dequantise)
  uint8_t* bytes = nullptr;   // [n_entries][entry bytes]
};

// Index-key codec: dim e4m3 bytes then one fp32 scale = max(amax, 1e-4)/448 (dim + 4 bytes).
struct IndexKeyCodecParams {
  int64_t dim = 0;
  int64_t n_entries = 0;
  float* values = nullptr;   // [n_entries][dim]
  uint8_t* bytes = nullptr;  // [n_entries][dim + 4]
};

// Every op of the interface as X(Name, ParamsType), one list for the interface and each backend:
// a backend's class body says FM_KERNEL_BACKEND_OPS(FM_KERNEL_OP_OVERRIDE) and its .cc/.cu defines
// OpStatus <Backend>::<Name>(const <ParamsType>& p) for every entry.
#define FM_KERNEL_BACKEND_OPS(X)             \
  X(Linear, LinearParams)                    \
  X(RmsNorm, RmsNormParams)                  \
  X(Rope, RopeParams)                        \
  X(Hadamard, HadamardParams)                \
  X(HcPre, HcPreParams)                      \
  X(HcPost, HcPostParams)                    \
  X(SoftmaxPool, SoftmaxPoolParams)          \
  X(SinkAttention, SinkAttentionParams)      \
  X(IndexerScore, IndexerScoreParams)        \
  X(TopK, TopKParams)                        \
  X(Route, RouteParams)                      \
  X(Swiglu, SwigluParams)                    \
  X(QuantizeKv, KvCodecParams)               \
  X(DequantizeKv, KvCodecParams)             \
  X(QuantizeIndexKey, IndexKeyCodecParams)   \
  X(DequantizeIndexKey, IndexKeyCodecParams)

#define FM_KERNEL_OP_PURE(name, params) virtual OpStatus name(const params& p) = 0;
#define FM_KERNEL_OP_OVERRIDE(name, params) OpStatus name(const params& p) override;

// The op interface. Implementations: kernels/cpu/cpu_backend.h (fp32 reference) and
// kernels/cuda/cuda_backend.h.
class KernelBackend {
 public:
  virtual ~KernelBackend() = default;
  FM_KERNEL_BACKEND_OPS(FM_KERNEL_OP_PURE)
};

// Bytes of one FP8 KV entry (see KvCodecParams).
constexpr int64_t KvEntryBytes(int64_t nope_dims, int64_t rope_dims) {
  const int64_t raw = nope_dims + 2 * rope_dims + (nope_dims + 63) / 64;
  return (raw + 7) / 8 * 8;
}

// Bytes of one FP8 index key (see IndexKeyCodecParams).
constexpr int64_t IndexKeyBytes(int64_t dim) { return dim + 4; }

}  // namespace fm::kernels
