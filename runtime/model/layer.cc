// One decoder layer (V4_FLASH_LSA.md §2.2): for the attention and then the FFN sublayer, the mHC
// pre-mix of the 4 residual streams, the sublayer's RMSNorm, the sublayer, and the mHC post-mix.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/model/forward.h"

namespace fm::rt {

absl::Status OpToStatus(kernels::OpStatus s, const char* op) {
  if (s == kernels::OpStatus::kOk) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("kernel op failed (status ", static_cast<int>(s), "): ", op));
}

LayerState::LayerState(const ModelConfig& c, const LayerWeights& w, KvMode mode,
                       kernels::KernelBackend* be)
    : window(mode, KvStore::Kind::kAttention, c.nope_head_dim(), c.qk_rope_head_dim, be),
      chunk(mode, KvStore::Kind::kAttention, c.nope_head_dim(), c.qk_rope_head_dim, be),
      compressed(mode, KvStore::Kind::kAttention, c.nope_head_dim(), c.qk_rope_head_dim, be),
      index_keys(mode, KvStore::Kind::kIndexKey, c.index_head_dim, 0, be) {
  window.Resize(c.sliding_window);
  auto init = [](const CompressorWeights& cw, CompressorState& cs) {
    // Overlapping compressors keep the previous chunk too.
    cs.ring_tokens = cw.coff * cw.ratio;
    cs.width = cw.coff * cw.dim;
    cs.kv.assign(static_cast<size_t>(cs.ring_tokens * cs.width), 0.0f);
    cs.score.assign(static_cast<size_t>(cs.ring_tokens * cs.width), 0.0f);
  };
  if (w.attn.has_compressor) init(w.attn.compressor, comp);
  if (w.attn.has_indexer) init(w.attn.idx_compressor, idx_comp);
}

absl::Status HcMixAndNorm(const ModelImpl* model, const HcWeights& hc, const std::vector<float>& norm,
                          const float* x, int64_t n_rows, std::vector<float>& mixes_buf, float* h,
                          float* post, float* comb) {
  const ModelConfig& c = model->config();
  kernels::KernelBackend* be = model->backend();
  const int64_t d = c.hidden_size;
  float* mixes = Grow(mixes_buf, n_rows * hc.n_mix);
  FM_OP(be->Linear({&hc.fn_view, x, n_rows, mixes}));
  kernels::HcPreParams p;
  p.x = x;
  p.mixes_raw = mixes;
  p.scale = hc.scale.data();
  p.base = hc.base.data();
  p.n_rows = n_rows;
  p.n_hc = c.hc_mult;
  p.dim = d;
  p.n_mix = hc.n_mix;
  p.sinkhorn_iters = c.hc_sinkhorn_iters;
  p.norm_eps = static_cast<float>(c.rms_norm_eps);
  p.hc_eps = static_cast<float>(c.hc_eps);
  p.y = h;
  p.post = post;
  p.comb = comb;
  FM_OP(be->HcPre(p));
  FM_OP(be->RmsNorm({h, norm.data(), h, n_rows, d, static_cast<float>(c.rms_norm_eps)}));
  return absl::OkStatus();
}

absl::Status SublayerInput(const ForwardArgs& a, const HcWeights& hc, const std::vector<float>& norm,
                           const float* x, float* h, float* post, float* comb) {
  return HcMixAndNorm(a.model, hc, norm, x, a.n_rows, a.scratch->mixes, h, post, comb);
}

absl::Status LayerForward(const ForwardArgs& a, const LayerWeights& w, LayerState& st, float* x) {
  const ModelConfig& c = a.model->config();
  kernels::KernelBackend* be = a.model->backend();
  Scratch& s = *a.scratch;
  const int64_t T = a.n_rows, d = c.hidden_size, hc = c.hc_mult;
  float* residual = Grow(s.residual, T * hc * d);
  float* h = Grow(s.h, T * d);
  float* post = Grow(s.post, T * hc);
  float* comb = Grow(s.comb, T * hc * hc);
  float* y = Grow(s.y, T * d);
  for (int sub = 0; sub < 2; ++sub) {
    const bool attn = sub == 0;
    FM_RETURN_IF_ERROR(SublayerInput(a, attn ? w.hc_attn : w.hc_ffn, attn ? w.attn_norm : w.ffn_norm,
                                     x, h, post, comb));
    if (attn) {
      if (st.capture_hidden) {
        st.last_hidden.assign(h + (T - 1) * d, h + T * d);
        st.hidden_valid = true;
      }
      FM_RETURN_IF_ERROR(AttentionForward(a, w, st, h, y));
    } else {
      FM_RETURN_IF_ERROR(MoeForward(a, w.ffn, h, y));
    }
    std::copy_n(x, T * hc * d, residual);
    FM_OP(be->HcPost({y, residual, post, comb, T, hc, d, x}));
  }
  return absl::OkStatus();
}

}  // namespace fm::rt
