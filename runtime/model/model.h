#pragma once
// The public API of the CPU reference DeepSeek-V4 forward pass. A Model holds the mapped checkpoint
// and pre-resolved weight views; a Sequence holds one request's state (SWA ring, compressor state
// rings, compressed KV caches and index keys) and runs prefill (chunked) and one-token decode.
// Decode after prefill gives the same logits as a prefill of the whole sequence.

#include <cstdint>
#include <filesystem>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/config/model_config.h"

namespace fm::kernels::cpu {
class ThreadPool;
}

namespace fm::rt {

class Checkpoint;
class Sequence;

// How compressed and window KV entries are stored.
enum class KvMode : uint8_t {
  kFp8 = 0,   // production: 584 B/entry (448 FP8 e4m3 no-RoPE + 64 bf16 RoPE + 7 ue8m0 scales + pad),
              // index keys 132 B (128 FP8 + fp32 scale)
  kFp32 = 1,  // exact fp32 entries, for parity tests
};

struct ModelOptions {
  KvMode kv_mode = KvMode::kFp8;
  int n_threads = 0;          // CPU compute pool size; 0 = hardware concurrency
};

class Model {
 public:
  // Opens the checkpoint directory, validates config.json and resolves every tensor of every layer
  // (and MTP block) with its expected shape; the first problem is returned naming file and tensor.
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::filesystem::path& dir,
                                                     const ModelOptions& options);
  virtual ~Model() = default;

  virtual const ModelConfig& config() const = 0;
  virtual const ModelOptions& options() const = 0;

  // A fresh, empty sequence bound to this model (the model must outlive it). All sequences of a
  // model share its compute pool, so run their calls from one thread at a time.
  virtual std::unique_ptr<Sequence> NewSequence() const = 0;
};

class Sequence {
 public:
  virtual ~Sequence() = default;

  // Appends `tokens` at positions length()..length()+n-1, processing them in chunks of at most
  // `chunk_tokens` (<= 0: one chunk). If `logits` is non-null it receives [n, vocab] fp32 rows:
  // row t is the next-token logits after token t. Token ids are checked against vocab_size.
  virtual absl::Status Prefill(absl::Span<const int32_t> tokens, int64_t chunk_tokens,
                               float* logits) = 0;

  // Appends one token; `logits` receives [vocab].
  virtual absl::Status Decode(int32_t token, float* logits) = 0;

  // MTP draft: logits [vocab] for the token after `next_token`, from the MTP block applied to the
  // last processed position's pre-head hidden state and the embedding of `next_token` (the token
  // that the main head predicted or sampled for position length()). FailedPrecondition when the
  // model has no MTP block or the sequence is empty.
  virtual absl::Status DraftLogits(int32_t next_token, float* logits) = 0;

  // Tokens processed so far.
  virtual int64_t length() const = 0;

  // For benchmarks and capacity runs: makes an empty sequence look as if `n_tokens` tokens had
  // been prefilled, filling every cache (window ring, compressed entries, index keys, compressor
  // rings) with deterministic pseudo-random entries of realistic magnitude, without running the
  // model. A following Decode costs what it costs at that context length; its logits carry no
  // meaning. FailedPrecondition unless the sequence is empty; InvalidArgument for n_tokens < 1 or
  // beyond max_position_embeddings.
  virtual absl::Status FillSyntheticContext(int64_t n_tokens, uint64_t seed) = 0;
};

}  // namespace fm::rt
