#pragma once
// Hand-written backward passes of the memory indexer's query path and scorer (runtime/lsa/
// memory_indexer.h), one function per forward piece so each can be gradient-checked alone:
//   a = W_a h                 -> LinearWeightGrad / LinearInputGrad
//   c = RMSNorm_g(a)          -> RmsNormBackward
//   u = W_b c                 -> LinearWeightGrad / LinearInputGrad
//   v = RoPE_p(u)             -> RopeBackward (the inverse rotation: RoPE is orthogonal)
//   q = Hadamard(v)           -> HadamardBackward (the orthonormal transform is its own adjoint)
//   w = (W_w h) / sqrt(H D_I) -> LinearWeightGrad with the scale folded into dw
//   logit_j = sum_h w_h relu(q_h . k_j) -> ScoreKeysBackward
// QueryBackward chains them for a batch of tokens, from dL/dq and dL/dw to the four weight
// gradients. The input h is data, so no gradient flows to it.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "kernels/cpu/thread_pool.h"
#include "runtime/lsa/memory_indexer.h"

namespace fm::rt::train {

// Gradients of one target's parameters, shaped like RetrieverWeights.
struct RetrieverGrads {
  std::vector<float> wq_a, q_norm, wq_b, weights_proj;
  // Sizes the buffers like `w` and zeroes them.
  void ResetLike(const RetrieverWeights& w);
};

// dW[o][i] += sum_s dy[s][o] * x[s][i] for y = W x over n rows; dW is [out_dim][in_dim].
// Parallel over output rows; the per-element sum runs in row order, so the result does not depend
// on the pool size.
void LinearWeightGrad(const float* dy, const float* x, int64_t n, int64_t out_dim, int64_t in_dim,
                      float* dW, kernels::cpu::ThreadPool* pool);

// dx[s][i] = sum_o W[o][i] * dy[s][o] (overwrites dx [n][in_dim]).
void LinearInputGrad(const float* W, const float* dy, int64_t n, int64_t out_dim, int64_t in_dim,
                     float* dx, kernels::cpu::ThreadPool* pool);

// Backward of c = a * g / sqrt(mean(a^2) + eps) per row of `dim`: writes da [n][dim] and adds to
// dg [dim].
void RmsNormBackward(const float* a, const float* g, const float* dc, int64_t n, int64_t dim,
                     float eps, float* da, float* dg);

// Backward of the interleaved-pair RoPE on dims [rope_offset, rope_offset + 2 n_pairs) of each
// head, in place on dx [n][n_heads][head_stride]: the transpose of a rotation is the rotation by
// the negated angle (the kernel's inverse mode).
absl::Status RopeBackward(float* dx, int64_t n, int64_t n_heads, int64_t head_stride,
                          int64_t rope_offset, int64_t n_pairs, const int64_t* positions,
                          const float* inv_freq, kernels::cpu::ThreadPool* pool);

// Backward of the orthonormal Walsh-Hadamard transform, in place on n_vectors vectors of dim: the
// matrix is symmetric and orthogonal, so its adjoint is itself.
absl::Status HadamardBackward(float* dx, int64_t n_vectors, int64_t dim,
                              kernels::cpu::ThreadPool* pool);

// Backward of logit_j = sum_h w_h relu(q_h . k_j) for one token over n_keys keys [n_keys][dim]:
// adds to dq [n_heads][dim] and dw [n_heads]. relu'(0) is taken as 0, matching relu's forward.
void ScoreKeysBackward(const float* q, const float* w, int64_t n_heads, int64_t dim,
                       const float* keys, int64_t n_keys, const float* dlogit, float* dq,
                       float* dw);

// Backward of MemoryIndexer::QueryForward for target `t` over act.n_rows tokens: given dq
// [n][H * D_I] (consumed: overwritten as scratch) and dw [n][H] (gradients of the outputs q and w),
// adds the weight gradients to *grads. h and positions are QueryForward's inputs.
absl::Status QueryBackward(const MemoryIndexer& indexer, int64_t t, const float* h,
                           const int64_t* positions, const IndexerQueryBatch& act, float* dq,
                           const float* dw, RetrieverGrads* grads,
                           kernels::cpu::ThreadPool* pool);

}  // namespace fm::rt::train
