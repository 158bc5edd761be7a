#include "runtime/lsa/train/indexer_backward.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cpu/ops_norm.h"

namespace fm::rt::train {
namespace {

absl::Status Op(kernels::OpStatus s, const char* op) {
  if (s == kernels::OpStatus::kOk) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("indexer backward: kernel op ", op, " failed (status ",
                                          static_cast<int>(s), ")"));
}

}  // namespace

void RetrieverGrads::ResetLike(const RetrieverWeights& w) {
  wq_a.assign(w.wq_a.size(), 0.0f);
  q_norm.assign(w.q_norm.size(), 0.0f);
  wq_b.assign(w.wq_b.size(), 0.0f);
  weights_proj.assign(w.weights_proj.size(), 0.0f);
}

void LinearWeightGrad(const float* dy, const float* x, int64_t n, int64_t out_dim, int64_t in_dim,
                      float* dW, kernels::cpu::ThreadPool* pool) {
  kernels::cpu::ParallelForOrInline(pool, out_dim, 16, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      float* row = dW + o * in_dim;
      for (int64_t s = 0; s < n; ++s) {
        const float g = dy[s * out_dim + o];
        if (g == 0.0f) continue;
        const float* xs = x + s * in_dim;
        for (int64_t i = 0; i < in_dim; ++i) row[i] += g * xs[i];
      }
    }
  });
}

void LinearInputGrad(const float* W, const float* dy, int64_t n, int64_t out_dim, int64_t in_dim,
                     float* dx, kernels::cpu::ThreadPool* pool) {
  constexpr int64_t kBlock = 64;
  const int64_t n_blocks = (in_dim + kBlock - 1) / kBlock;
  kernels::cpu::ParallelForOrInline(pool, n_blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t i0 = b * kBlock, i1 = std::min(in_dim, i0 + kBlock);
      for (int64_t s = 0; s < n; ++s) {
        float* out = dx + s * in_dim;
        std::fill(out + i0, out + i1, 0.0f);
        for (int64_t o = 0; o < out_dim; ++o) {
          const float g = dy[s * out_dim + o];
          if (g == 0.0f) continue;
          const float* wrow = W + o * in_dim;
          for (int64_t i = i0; i < i1; ++i) out[i] += g * wrow[i];
        }
      }
    }
  });
}

void RmsNormBackward(const float* a, const float* g, const float* dc, int64_t n, int64_t dim,
                     float eps, float* da, float* dg) {
  // c_i = g_i a_i r, r = (mean(a^2) + eps)^-1/2, dr/da_i = -r^3 a_i / dim:
  //   dg_i += dc_i a_i r;  da_i = r g_i dc_i - r^3 a_i / dim * sum_k g_k dc_k a_k.
  for (int64_t s = 0; s < n; ++s) {
    const float* as = a + s * dim;
    const float* dcs = dc + s * dim;
    double ss = 0, dot = 0;
    for (int64_t i = 0; i < dim; ++i) {
      ss += static_cast<double>(as[i]) * as[i];
      dot += static_cast<double>(g[i]) * dcs[i] * as[i];
    }
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(dim) + eps);
    const double k = r * r * r * dot / static_cast<double>(dim);
    for (int64_t i = 0; i < dim; ++i) {
      dg[i] += static_cast<float>(dcs[i] * as[i] * r);
      da[s * dim + i] = static_cast<float>(r * g[i] * dcs[i] - k * as[i]);
    }
  }
}

absl::Status RopeBackward(float* dx, int64_t n, int64_t n_heads, int64_t head_stride,
                          int64_t rope_offset, int64_t n_pairs, const int64_t* positions,
                          const float* inv_freq, kernels::cpu::ThreadPool* pool) {
  kernels::RopeParams rp;
  rp.x = dx;
  rp.n_rows = n;
  rp.n_heads = n_heads;
  rp.head_stride = head_stride;
  rp.rope_offset = rope_offset;
  rp.n_pairs = n_pairs;
  rp.positions = positions;
  rp.inv_freq = inv_freq;
  rp.inverse = true;
  return Op(kernels::cpu::Rope(rp, pool), "Rope(inverse)");
}

absl::Status HadamardBackward(float* dx, int64_t n_vectors, int64_t dim,
                              kernels::cpu::ThreadPool* pool) {
  return Op(kernels::cpu::Hadamard({dx, n_vectors, dim}, pool), "Hadamard");
}

void ScoreKeysBackward(const float* q, const float* w, int64_t n_heads, int64_t dim,
                       const float* keys, int64_t n_keys, const float* dlogit, float* dq,
                       float* dw) {
  for (int64_t h = 0; h < n_heads; ++h) {
    const float* qh = q + h * dim;
    float* dqh = dq + h * dim;
    double dwh = 0;
    for (int64_t j = 0; j < n_keys; ++j) {
      if (dlogit[j] == 0.0f) continue;
      const float* k = keys + j * dim;
      float s = 0;
      for (int64_t i = 0; i < dim; ++i) s += qh[i] * k[i];
      if (s <= 0.0f) continue;
      dwh += static_cast<double>(dlogit[j]) * s;
      const float g = dlogit[j] * w[h];
      for (int64_t i = 0; i < dim; ++i) dqh[i] += g * k[i];
    }
    dw[h] += static_cast<float>(dwh);
  }
}

absl::Status QueryBackward(const MemoryIndexer& indexer, int64_t t, const float* h,
                           const int64_t* positions, const IndexerQueryBatch& act, float* dq,
                           const float* dw, RetrieverGrads* grads,
                           kernels::cpu::ThreadPool* pool) {
  const ModelConfig& cfg = indexer.config();
  const RetrieverWeights& W = indexer.target(t);
  const int64_t n = act.n_rows, d = cfg.hidden_size, DI = cfg.index_head_dim;
  const int64_t r = cfg.qk_rope_head_dim, R = W.rank, H = W.n_heads;
  if (n == 0) return absl::OkStatus();
  // weights_proj: w = s (W_w h).
  const float wscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(H) * DI));
  std::vector<float> dws(static_cast<size_t>(n * H));
  for (size_t i = 0; i < dws.size(); ++i) dws[i] = dw[i] * wscale;
  LinearWeightGrad(dws.data(), h, n, H, d, grads->weights_proj.data(), pool);
  // q = Hadamard(RoPE(W_b c)): undo the two orthogonal maps on the gradient, in reverse order.
  FM_RETURN_IF_ERROR(HadamardBackward(dq, n * H, DI, pool));
  FM_RETURN_IF_ERROR(RopeBackward(dq, n, H, DI, DI - r, r / 2, positions,
                                  indexer.rope_inv_freq().data(), pool));
  LinearWeightGrad(dq, act.c.data(), n, H * DI, R, grads->wq_b.data(), pool);
  std::vector<float> dc(static_cast<size_t>(n * R)), da(static_cast<size_t>(n * R));
  LinearInputGrad(W.wq_b.data(), dq, n, H * DI, R, dc.data(), pool);
  RmsNormBackward(act.a.data(), W.q_norm.data(), dc.data(), n, R,
                  static_cast<float>(cfg.rms_norm_eps), da.data(), grads->q_norm.data());
  LinearWeightGrad(da.data(), h, n, R, d, grads->wq_a.data(), pool);
  return absl::OkStatus();
}

}  // namespace fm::rt::train
