// Sequence::FillSyntheticContext: a prefilled-looking state for decode benchmarks at long context
// (a real CPU prefill of 64K tokens through Flash-sized layers takes the better part of an hour).

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/model/sequence_impl.h"

namespace fm::rt {
namespace {

// SplitMix64 -> approximately N(0, 1) (sum of 4 uniforms, rescaled): cheap, deterministic and
// platform-independent; entries only need the magnitude of RMS-normalised vectors.
class Filler {
 public:
  explicit Filler(uint64_t seed) : state_(seed) {}
  float Next() {
    float acc = 0.0f;
    for (int i = 0; i < 4; ++i) {
      uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      acc += static_cast<float>(z >> 40) * (1.0f / 16777216.0f);
    }
    return (acc - 2.0f) * 1.7320508f;  // variance of the sum of 4 U(0,1) is 1/3
  }
  void Fill(std::vector<float>& v) {
    for (float& x : v) x = Next();
  }

 private:
  uint64_t state_;
};

void FillStore(KvStore& store, int64_t n, Filler& rng) {
  store.Resize(n);
  std::vector<float> entry(static_cast<size_t>(store.dim()));
  for (int64_t i = 0; i < n; ++i) {
    for (float& x : entry) x = rng.Next();
    store.Store(i, entry.data());
  }
}

}  // namespace

absl::Status SequenceImpl::FillSyntheticContext(int64_t n_tokens, uint64_t seed) {
  const ModelConfig& c = model_->config();
  if (length_ != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("FillSyntheticContext needs an empty sequence (length ", length_, ")"));
  }
  if (n_tokens < 1 || (c.max_position_embeddings > 0 && n_tokens > c.max_position_embeddings)) {
    return absl::InvalidArgumentError(absl::StrCat("synthetic context of ", n_tokens,
                                                   " tokens: must be in [1, max_position_embeddings=",
                                                   c.max_position_embeddings, "]"));
  }
  Filler rng(seed);
  const ModelWeights& w = model_->weights();
  for (size_t l = 0; l < layers_.size(); ++l) {
    LayerState& st = layers_[l];
    const AttentionWeights& aw = w.layers[l].attn;
    FillStore(st.window, c.sliding_window, rng);
    if (aw.has_compressor) {
      FillStore(st.compressed, n_tokens / aw.compressor.ratio, rng);
      rng.Fill(st.comp.kv);
      rng.Fill(st.comp.score);
    }
    if (aw.has_indexer) {
      FillStore(st.index_keys, n_tokens / aw.idx_compressor.ratio, rng);
      rng.Fill(st.idx_comp.kv);
      rng.Fill(st.idx_comp.score);
    }
  }
  for (LayerState& st : mtp_layers_) FillStore(st.window, c.sliding_window, rng);
  rng.Fill(hidden_ring_);
  mtp_done_ = n_tokens;
  length_ = n_tokens;
  return absl::OkStatus();
}

}  // namespace fm::rt
