#include "runtime/model/sequence_impl.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cpu/linear.h"

namespace fm::rt {

SequenceImpl::SequenceImpl(const ModelImpl* model) : model_(model) {
  const ModelConfig& c = model->config();
  const ModelWeights& w = model->weights();
  layers_.reserve(w.layers.size());
  for (const LayerWeights& lw : w.layers) {
    layers_.emplace_back(c, lw, model->options().kv_mode, model->backend());
    if (lw.attn.has_indexer) layers_.back().csa_ordinal = csa_layers_++;
  }
  mtp_layers_.reserve(w.mtp.size());
  for (const MtpWeights& mw : w.mtp) {
    mtp_layers_.emplace_back(c, mw.layer, model->options().kv_mode, model->backend());
  }
  if (!w.mtp.empty()) {
    hidden_ring_.assign(static_cast<size_t>(c.sliding_window * c.hc_mult * c.hidden_size), 0.0f);
    token_ring_.assign(static_cast<size_t>(c.sliding_window), 0);
  }
}

absl::Status SequenceImpl::CheckToken(int32_t token, int64_t index) const {
  const int64_t vocab = model_->config().vocab_size;
  if (token < 0 || token >= vocab) {
    return absl::InvalidArgumentError(absl::StrCat("token id ", token, " at index ", index,
                                                   " is out of range [0, vocab_size=", vocab, ")"));
  }
  return absl::OkStatus();
}

void SequenceImpl::Embed(const int32_t* tokens, int64_t n, float* out) const {
  const int64_t d = model_->config().hidden_size;
  for (int64_t t = 0; t < n; ++t) kernels::cpu::DequantRow(model_->weights().embed, tokens[t], out + t * d);
}

absl::Status SequenceImpl::Prefill(absl::Span<const int32_t> tokens, int64_t chunk_tokens,
                                   float* logits) {
  const ModelConfig& c = model_->config();
  FM_RETURN_IF_ERROR(resident_error_);
  for (size_t i = 0; i < tokens.size(); ++i) {
    FM_RETURN_IF_ERROR(CheckToken(tokens[i], static_cast<int64_t>(i)));
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (c.max_position_embeddings > 0 && length_ + n > c.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("sequence length ", length_ + n,
                                                   " exceeds config.json max_position_embeddings=",
                                                   c.max_position_embeddings));
  }
  const int64_t chunk = chunk_tokens <= 0 ? n : chunk_tokens;
  for (int64_t off = 0; off < n; off += chunk) {
    const int64_t len = std::min(chunk, n - off);
    FM_RETURN_IF_ERROR(RunChunk(tokens.data() + off, len,
                                logits != nullptr ? logits + off * c.vocab_size : nullptr));
  }
  return absl::OkStatus();
}

absl::Status SequenceImpl::Decode(int32_t token, float* logits) {
  return Prefill(absl::Span<const int32_t>(&token, 1), 1, logits);
}

absl::Status SequenceImpl::RunChunk(const int32_t* tokens, int64_t n, float* logits) {
  const ModelConfig& c = model_->config();
  const int64_t d = c.hidden_size, hc = c.hc_mult;
  int64_t* pos = Grow(positions_, n);
  for (int64_t t = 0; t < n; ++t) pos[t] = length_ + t;
  float* e = Grow(embed_, n * d);
  Embed(tokens, n, e);
  float* x = Grow(x_, n * hc * d);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t s = 0; s < hc; ++s) std::copy_n(e + t * d, d, x + (t * hc + s) * d);

  ForwardArgs a;
  a.model = model_;
  a.scratch = &scratch_;
  a.n_rows = n;
  a.positions = pos;
  a.tokens = tokens;
  a.resident = has_resident_ ? &restriction_ : nullptr;
  a.trace_indexer = trace_indexer_;
  const ModelWeights& w = model_->weights();
  for (size_t l = 0; l < w.layers.size(); ++l) {
    if (absl::Status s = LayerForward(a, w.layers[l], layers_[l], x); !s.ok()) {
      return Annotate(s, absl::StrCat("layer ", l));  // formatted only on failure
    }
  }
  if (!hidden_ring_.empty()) {
    const int64_t W = c.sliding_window;
    for (int64_t t = std::max<int64_t>(0, n - W); t < n; ++t) {
      std::copy_n(x + t * hc * d, hc * d, hidden_ring_.data() + (pos[t] % W) * hc * d);
      token_ring_[static_cast<size_t>(pos[t] % W)] = tokens[t];
    }
  }
  if (logits != nullptr) FM_RETURN_IF_ERROR(Head(w.hc_head, w.norm, x, n, logits));
  length_ += n;
  return absl::OkStatus();
}

absl::Status SequenceImpl::Head(const HcWeights& hc, const std::vector<float>& norm, const float* x,
                                int64_t n, float* logits) {
  kernels::KernelBackend* be = model_->backend();
  float* y = Grow(head_y_, n * model_->config().hidden_size);
  // hc_head: the pre-mix only (no post weights, no Sinkhorn), then the final norm.
  FM_RETURN_IF_ERROR(HcMixAndNorm(model_, hc, norm, x, n, head_mix_, y, nullptr, nullptr));
  FM_OP(be->Linear({&model_->weights().head, y, n, logits}));
  return absl::OkStatus();
}

}  // namespace fm::rt
