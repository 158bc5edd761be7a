// MTP draft (V4_FLASH_LSA.md §2.9): the MTP block sees, at position p, the main model's pre-head
// streams h_p and the embedding of token p+1: X_s = e_proj(enorm(E[tok])) + h_proj(hnorm(h_p,s)).
// It is one SWA-only decoder layer with its own window, so a draft at position L-1 attends to
// MTP entries of positions L-W..L-1. Entries of earlier positions are built lazily here from the
// saved streams and the now-known next tokens (the same entries a full MTP prefill would store).

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/model/sequence_impl.h"

namespace fm::rt {

absl::Status SequenceImpl::DraftLogits(int32_t next_token, float* logits) {
  const ModelConfig& c = model_->config();
  const ModelWeights& w = model_->weights();
  if (w.mtp.empty()) {
    return absl::FailedPreconditionError("DraftLogits: the model has no MTP block "
                                         "(config.json num_nextn_predict_layers=0)");
  }
  if (length_ == 0) return absl::FailedPreconditionError("DraftLogits: the sequence is empty");
  if (logits == nullptr) return absl::InvalidArgumentError("DraftLogits: logits must not be null");
  FM_RETURN_IF_ERROR(CheckToken(next_token, 0));
  kernels::KernelBackend* be = model_->backend();
  const MtpWeights& mw = w.mtp[0];
  LayerState& st = mtp_layers_[0];
  const int64_t d = c.hidden_size, hc = c.hc_mult, W = c.sliding_window, L = length_;
  const float eps = static_cast<float>(c.rms_norm_eps);

  // Rows: catch-up positions [first, L-2] with their true next tokens, then L-1 with next_token.
  const int64_t first = std::max<int64_t>(mtp_done_, std::max<int64_t>(0, L - W));
  const int64_t n_catch = std::max<int64_t>(0, L - 1 - first);
  const int64_t n = n_catch + 1;
  int64_t* pos = Grow(mtp_pos_, n);
  int32_t* tok = Grow(mtp_tok_, n);
  for (int64_t i = 0; i < n_catch; ++i) {
    pos[i] = first + i;
    tok[i] = token_ring_[static_cast<size_t>((first + i + 1) % W)];
  }
  pos[n_catch] = L - 1;
  tok[n_catch] = next_token;

  float* e = Grow(mtp_e_, n * d);
  Embed(tok, n, e);
  FM_OP(be->RmsNorm({e, mw.enorm.data(), e, n, d, eps}));
  float* ep = Grow(mtp_kv_, n * d);  // consumed into x before mtp_kv_ is reused
  FM_OP(be->Linear({&mw.e_proj, e, n, ep}));
  float* hn = Grow(mtp_hn_, n * hc * d);
  for (int64_t i = 0; i < n; ++i) {
    std::copy_n(hidden_ring_.data() + (pos[i] % W) * hc * d, hc * d, hn + i * hc * d);
  }
  // hnorm and h_proj act on each stream separately.
  FM_OP(be->RmsNorm({hn, mw.hnorm.data(), hn, n * hc, d, eps}));
  float* hp = Grow(mtp_hp_, n * hc * d);
  FM_OP(be->Linear({&mw.h_proj, hn, n * hc, hp}));
  float* x = Grow(mtp_x_, n * hc * d);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t s = 0; s < hc; ++s)
      for (int64_t k = 0; k < d; ++k) x[(i * hc + s) * d + k] = ep[i * d + k] + hp[(i * hc + s) * d + k];

  ForwardArgs a;
  a.model = model_;
  a.scratch = &scratch_;
  if (n_catch > 0) {
    // Only the window K=V entry of catch-up rows is needed: mHC pre, attn_norm, wkv path.
    a.n_rows = n_catch;
    a.positions = pos;
    a.tokens = tok;
    float* h = Grow(mtp_h_, n_catch * d);
    float* post = Grow(mtp_post_, n_catch * hc);
    float* comb = Grow(mtp_comb_, n_catch * hc * hc);
    FM_RETURN_IF_ERROR(SublayerInput(a, mw.layer.hc_attn, mw.layer.attn_norm, x, h, post, comb));
    float* kv = Grow(mtp_kv_, n_catch * c.head_dim);
    FM_RETURN_IF_ERROR(ProjectWindowKv(a, mw.layer, h, kv));
    for (int64_t i = 0; i < n_catch; ++i) st.window.Store(pos[i] % W, kv + i * c.head_dim);
  }
  mtp_done_ = L - 1;

  // The draft row itself. Its own window entry goes through the chunk store and then into ring
  // slot (L-1) % W; that slot is rebuilt with the true token once position L-1 is caught up.
  a.n_rows = 1;
  a.positions = pos + n_catch;
  a.tokens = tok + n_catch;
  float* xr = x + n_catch * hc * d;
  FM_RETURN_IF_ERROR(Annotate(LayerForward(a, mw.layer, st, xr), "MTP block 0"));
  return Head(mw.hc_head, mw.norm, xr, 1, logits);
}

}  // namespace fm::rt
