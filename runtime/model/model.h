#pragma once
// The public API of the CPU reference DeepSeek-V4 forward pass. A Model holds the mapped checkpoint
// and pre-resolved weight views; a Sequence holds one request's state (SWA ring, compressor state
// rings, compressed KV caches and index keys) and runs prefill (chunked) and one-token decode.
// Decode after prefill gives the same logits as a prefill of the whole sequence.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

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

// Where the compressed KV entries of the CSA layers live when LSA pages them (DESIGN.md §2.1): a
// hot pool of page-sized slots, each holding one KV block per CSA layer (chunks_per_page entries
// of CompressedEntryBytes(), in the store's byte format), page-major. The page -> slot table is
// the live table the engine derives from the scheduler's LUT (its single source of truth).
struct KvPoolView {
  const std::byte* base = nullptr;    // slot 0; must outlive the calls that read through the view
  int64_t pool_bytes = 0;             // bytes readable from base (every slot in the table inside)
  int64_t slot_bytes = 0;             // bytes from one slot to the next
  int64_t entry_bytes = 0;            // must equal Model::CompressedEntryBytes()
  int32_t chunks_per_page = 0;
  std::vector<int64_t> block_offset;  // per CSA layer, ascending layer order: its block in a slot
  std::vector<int32_t> slot_of_page;  // page -> slot; -1 when the page is not resident
};

// The c4 chunks that Level 2 (the native indexer's top-k on every CSA layer) may pick from
// (spec §5.3, DESIGN.md §5 invariant 4). Chunk j is resident iff j < mask.size() && mask[j] != 0;
// chunks beyond the mask (e.g. formed after the boundary outside the published pages) are not
// reachable through CSA, only through the sliding window.
// With a pool view, the mask is derived from its table (every chunk of a page with a slot; a mask
// given alongside is replaced), and attention on the CSA layers reads the picked entries from the
// pool's cells instead of the sequence's own store; entries formed during the call itself are
// not in the pool yet and come from the store (on a GPU the compressor writes them into their
// cell in-graph). HCA layers and the window never read the pool.
struct ResidentSet {
  std::vector<uint8_t> mask;
  std::optional<KvPoolView> pool = std::nullopt;
};

// What the native indexer did for the last token of the last call on one CSA layer (recorded only
// while tracing is on; for tests and tools).
struct IndexerTrace {
  int64_t position = -1;        // the query token's position
  std::vector<float> scores;    // native score of every entry j < floor((position+1)/4), -inf
                                // for non-resident ones under a resident set (always filled:
                                // a traced query is scored even when every candidate is taken)
  std::vector<int32_t> selected;  // compressed entries attended, ascending
};

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
  // Bytes of one stored compressed KV entry of a CSA layer in this model's KV mode (the fp8
  // codec's size, 584 for Flash dims; 4 * head_dim for fp32): what a pool cell holds per layer.
  int64_t CompressedEntryBytes() const;

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

  // --- LSA hooks (runtime/lsa) ---------------------------------------------------------------

  // Restricts Level 2 on every CSA layer to `set` for all following calls: each query picks its
  // top-k among the resident chunks j < floor((p+1)/4) (all of them when at most index_topk).
  // Unset (the default) is full mode: no restriction, and no cost. A malformed pool view (sizes
  // that disagree with the model) makes the next Prefill/Decode fail with InvalidArgument naming
  // the field, before anything is read through it.
  virtual void SetResidentChunks(ResidentSet set) = 0;
  virtual void ClearResidentChunks() = 0;
  // The set in effect, or nullptr in full mode.
  virtual const ResidentSet* resident_chunks() const = 0;

  // Snapshots the normalised attention input h (spec §2.2 step 2) of the last token of every
  // following call on the given decoder layers (each must be a CSA layer). Replaces the previous
  // list; an empty list turns capture off. InvalidArgument names a bad layer.
  virtual absl::Status SetHiddenCapture(absl::Span<const int64_t> layers) = 0;
  // The captured h [hidden_size] of `layer`. FailedPrecondition when the layer is not captured or
  // nothing was processed since capture began.
  virtual absl::StatusOr<absl::Span<const float>> CapturedHidden(int64_t layer) const = 0;

  // Dequantised index keys [n][index_head_dim] of entries [first, first + n) of CSA layer
  // `layer` (exactly what the native indexer reads). InvalidArgument for a non-CSA layer or a
  // range outside the stored entries.
  virtual absl::Status IndexKeys(int64_t layer, int64_t first, int64_t n, float* out) const = 0;
  // Stored index keys (completed c4 chunks) of CSA layer `layer`; 0 for other layers.
  virtual int64_t IndexKeyCount(int64_t layer) const = 0;
  // The raw stored bytes of compressed KV entries [first, first + n) of CSA layer `layer`, n *
  // CompressedEntryBytes() contiguous bytes in the store's format (what an LSA pool cell holds).
  // Valid until the next call that changes the sequence. InvalidArgument for a non-CSA layer or a
  // range outside the stored entries.
  virtual absl::StatusOr<absl::Span<const uint8_t>> CompressedKvBytes(int64_t layer, int64_t first,
                                                                      int64_t n) const = 0;

  // Turns Level-2 tracing on or off (off by default; clears the traces).
  virtual void SetIndexerTracing(bool on) = 0;
  // The trace of CSA layer `layer`; FailedPrecondition when tracing is off or nothing was recorded.
  virtual absl::StatusOr<const IndexerTrace*> LastIndexerTrace(int64_t layer) const = 0;
};

}  // namespace fm::rt
