// KV compressors (V4_FLASH_LSA.md §4): every token's (kv, gate) projection goes into a ring; when
// a chunk of `ratio` tokens completes, its entry is a per-feature softmax pool over the chunk's
// slots (ratio 4: 8 overlapping slots, the previous chunk's first half plus the current chunk's
// second half), then RMSNorm and RoPE at the chunk start ratio * j.

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/model/forward.h"

namespace fm::rt {

absl::Status CompressorForward(const ForwardArgs& a, const CompressorWeights& w, CompressorState& st,
                               KvStore& cache, bool rotate, const float* h) {
  kernels::KernelBackend* be = a.model->backend();
  Scratch& s = *a.scratch;
  const int64_t T = a.n_rows, width = w.coff * w.dim, ratio = w.ratio, D = w.dim;
  float* kv = Grow(s.ckv, T * width);
  float* score = Grow(s.cscore, T * width);
  FM_OP(be->Linear({&w.wkv, h, T, kv}));
  FM_OP(be->Linear({&w.wgate, h, T, score}));

  const int64_t n_slots = w.coff * ratio;
  float* values = Grow(s.pool_values, n_slots * D);
  float* scores = Grow(s.pool_scores, n_slots * D);
  float* pooled = Grow(s.pooled, D);
  const int64_t rope = a.model->config().qk_rope_head_dim;
  const float* inv_freq = a.model->inv_freq(ratio);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = a.positions[t];
    const float* ape = w.ape.data() + (p % ratio) * width;
    float* ring_kv = st.kv.data() + (p % st.ring_tokens) * width;
    float* ring_sc = st.score.data() + (p % st.ring_tokens) * width;
    for (int64_t i = 0; i < width; ++i) {
      ring_kv[i] = kv[t * width + i];
      ring_sc[i] = score[t * width + i] + ape[i];
    }
    if ((p + 1) % ratio != 0) continue;
    const int64_t j = (p + 1) / ratio - 1;  // the chunk this token completes
    const int64_t first = ratio * j;
    int64_t slot = 0;
    if (w.coff == 2) {
      // Overlap slots: the previous chunk's tokens through the first half of the projection
      // (rows [0, D) of wkv/wgate, ape columns [0, D)); masked for chunk 0.
      for (int64_t i = 0; i < ratio; ++i, ++slot) {
        const int64_t q = first - ratio + i;
        float* v = values + slot * D;
        float* sc = scores + slot * D;
        if (q < 0) {
          for (int64_t d = 0; d < D; ++d) {
            v[d] = 0.0f;
            sc[d] = -std::numeric_limits<float>::infinity();
          }
          continue;
        }
        const float* rk = st.kv.data() + (q % st.ring_tokens) * width;
        const float* rs = st.score.data() + (q % st.ring_tokens) * width;
        for (int64_t d = 0; d < D; ++d) {
          v[d] = rk[d];
          sc[d] = rs[d];
        }
      }
    }
    // The current chunk's slots use the last D columns (the only D for coff == 1).
    const int64_t col = (w.coff - 1) * D;
    for (int64_t i = 0; i < ratio; ++i, ++slot) {
      const int64_t q = first + i;
      const float* rk = st.kv.data() + (q % st.ring_tokens) * width + col;
      const float* rs = st.score.data() + (q % st.ring_tokens) * width + col;
      for (int64_t d = 0; d < D; ++d) {
        values[slot * D + d] = rk[d];
        scores[slot * D + d] = rs[d];
      }
    }
    FM_OP(be->SoftmaxPool({values, scores, n_slots, D, pooled}));
    FM_OP(be->RmsNorm({pooled, w.norm.data(), pooled, 1, D,
                       static_cast<float>(a.model->config().rms_norm_eps)}));
    const int64_t pos = first;
    FM_OP(be->Rope(kernels::HeadTailRope(pooled, 1, 1, D, rope, &pos, inv_freq)));
    if (rotate) FM_OP(be->Hadamard({pooled, 1, D}));
    if (cache.size() != j) {
      return absl::InternalError(absl::StrCat("compressor: entry ", j, " emitted with ", cache.size(),
                                              " entries cached"));
    }
    cache.Resize(j + 1);
    cache.Store(j, pooled);
  }
  return absl::OkStatus();
}

}  // namespace fm::rt
