#pragma once
// SequenceImpl: one request's state and its forward driver behind the Sequence interface
// (model.h). Prefill runs chunks of tokens through every layer; Decode is a one-token chunk, so
// both share one code path and give the same logits. DraftLogits runs the MTP block (mtp.cc).

#include <cstdint>
#include <vector>

#include "runtime/model/forward.h"
#include "runtime/model/model.h"
#include "runtime/model/model_impl.h"

namespace fm::rt {

class SequenceImpl final : public Sequence {
 public:
  explicit SequenceImpl(const ModelImpl* model);

  absl::Status Prefill(absl::Span<const int32_t> tokens, int64_t chunk_tokens, float* logits) override;
  absl::Status Decode(int32_t token, float* logits) override;
  absl::Status DraftLogits(int32_t next_token, float* logits) override;
  int64_t length() const override { return length_; }
  absl::Status FillSyntheticContext(int64_t n_tokens, uint64_t seed) override;

  // LSA hooks (sequence_lsa.cc).
  void SetResidentChunks(ResidentSet set) override;
  void ClearResidentChunks() override;
  const ResidentSet* resident_chunks() const override {
    return has_resident_ ? &resident_ : nullptr;
  }
  absl::Status SetHiddenCapture(absl::Span<const int64_t> layers) override;
  absl::StatusOr<absl::Span<const float>> CapturedHidden(int64_t layer) const override;
  absl::Status IndexKeys(int64_t layer, int64_t first, int64_t n, float* out) const override;
  int64_t IndexKeyCount(int64_t layer) const override;
  absl::StatusOr<absl::Span<const uint8_t>> CompressedKvBytes(int64_t layer, int64_t first,
                                                              int64_t n) const override;
  void SetIndexerTracing(bool on) override;
  absl::StatusOr<const IndexerTrace*> LastIndexerTrace(int64_t layer) const override;

 private:
  absl::Status CheckToken(int32_t token, int64_t index) const;
  absl::Status RunChunk(const int32_t* tokens, int64_t n, float* logits);
  // x [n][hc][d] (n_rows consecutive streams) -> logits [n][vocab] through hc_head, norm, head.
  absl::Status Head(const HcWeights& hc, const std::vector<float>& norm, const float* x, int64_t n,
                    float* logits);
  // Embedding rows of `tokens` into out [n][d].
  void Embed(const int32_t* tokens, int64_t n, float* out) const;
  // InvalidArgument unless `layer` is a decoder layer with the native indexer (a CSA layer).
  absl::Status CheckCsaLayer(int64_t layer, const char* what) const;

  const ModelImpl* model_;
  int64_t length_ = 0;
  std::vector<LayerState> layers_;
  Scratch scratch_;
  std::vector<float> x_;              // [chunk][hc][d] residual streams
  std::vector<float> embed_;          // [chunk][d]
  std::vector<int64_t> positions_;    // [chunk]
  std::vector<float> head_y_, head_mix_;

  // Level-2 restriction (SetResidentChunks): the set, and its prefix counts that attention reads.
  bool has_resident_ = false;
  ResidentSet resident_;
  std::vector<int64_t> resident_prefix_;
  Level2Restriction restriction_;
  absl::Status resident_error_;  // a malformed pool view: returned by the next Prefill/Decode
  int32_t csa_layers_ = 0;       // layers with the native indexer (pool blocks per slot)
  bool trace_indexer_ = false;

  // MTP: the pre-head streams and tokens of the last sliding_window positions (slot p % W), and
  // the MTP block's own layer state. Positions < mtp_done_ have MTP window entries built from
  // their true next token.
  std::vector<LayerState> mtp_layers_;
  std::vector<float> hidden_ring_;
  std::vector<int32_t> token_ring_;
  int64_t mtp_done_ = 0;
  std::vector<float> mtp_x_, mtp_e_, mtp_hn_, mtp_hp_, mtp_h_, mtp_kv_, mtp_post_, mtp_comb_;
  std::vector<int64_t> mtp_pos_;
  std::vector<int32_t> mtp_tok_;
};

}  // namespace fm::rt
