#pragma once
// FeatureStore: the hidden states and index keys the trainer and the validation read, with bounded
// memory. A streamed corpus (LoadTrainCorpus's default) keeps only labels and positions in RAM;
// the store reads a batch's token records on demand (LabelFileReader::ReadToken, pread, CRC
// checked, in parallel on the pool) through an LRU cache capped in bytes. Training reads only the
// index-key rows each sample scores (GatherKeyRows: the CRC-checked row blocks of the label file
// that hold them, through an LRU block cache capped in bytes), so a step never loads a whole
// document's keys (~134 MB at 128K context, 8 targets, fp32). Validation, which scores tokens
// against every chunk, loads a document's keys whole (Keys), keeping the last few documents' keys
// (LRU by count). Label files stay open in an LRU as well, so a corpus of many
// documents does not run out of file descriptors. In-memory documents (tests, --in-memory) are
// served from the corpus itself and are not counted. Values are exactly those of the file, so a
// streamed run is bit-identical to an in-memory one.

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/cpu/thread_pool.h"
#include "runtime/lsa/labels/label_file.h"
#include "runtime/lsa/train/train_corpus.h"

namespace fm::rt::train {

struct FeatureStoreOptions {
  int64_t hidden_cache_bytes = int64_t{1} << 30;  // token hidden states kept between batches
  int64_t key_documents = 4;                      // documents whose whole keys stay loaded
  int64_t key_block_cache_bytes = int64_t{256} << 20;  // index-key row blocks kept (training)
  int64_t open_files = 64;                        // label files kept open
};

class FeatureStore {
 public:
  // One document's index keys, [target][n_chunks * index_head_dim]. Stays valid while held, even
  // after the store has evicted it (its bytes count as resident until then).
  using KeysHandle = std::shared_ptr<const std::vector<std::vector<float>>>;

  // `corpus` and `pool` (may be null) must outlive the store.
  FeatureStore(const TrainCorpus* corpus, const FeatureStoreOptions& options,
               kernels::cpu::ThreadPool* pool);
  ~FeatureStore();
  FeatureStore(const FeatureStore&) = delete;
  FeatureStore& operator=(const FeatureStore&) = delete;

  // The hidden states of `tokens` on every target: out [tokens.size()][n_targets][hidden_size].
  // Errors (a record that fails its CRC, a file changed since it was loaded) name the file.
  absl::Status GatherHidden(absl::Span<const TokenRef> tokens, std::vector<float>* out);

  // Document `doc`'s keys on every target (validation).
  absl::StatusOr<KeysHandle> Keys(int32_t doc);

  // Rows `chunks` of document `doc`'s keys on target `target`: out [chunks.size()][index_head_dim].
  // A streamed document's rows come from the block cache or from the label file's row blocks
  // (each block read once per miss, CRC checked); at most one block per calling thread is held
  // outside the cache. Thread-safe. OutOfRange for a chunk outside the document.
  absl::Status GatherKeyRows(int32_t doc, int64_t target, absl::Span<const int32_t> chunks,
                             float* out);

  // Bytes of streamed hidden states and keys held now (cache and live handles) and the peak.
  int64_t resident_bytes() const { return counters_->resident.load(); }
  int64_t peak_resident_bytes() const { return counters_->peak.load(); }
  // The key-row blocks' share of those bytes (block cache and blocks being read) and its peak.
  int64_t key_block_bytes() const { return counters_->block_resident.load(); }
  int64_t peak_key_block_bytes() const { return counters_->block_peak.load(); }
  // Token records, whole documents' keys and key-row blocks read from files so far (cache misses).
  int64_t token_reads() const { return token_reads_.load(); }
  int64_t key_reads() const { return key_reads_.load(); }
  int64_t key_block_reads() const { return key_block_reads_.load(); }
  // Bytes read from the label files so far (every section, every reader this store opened).
  int64_t bytes_read() const;
  const FeatureStoreOptions& options() const { return options_; }

 private:
  struct HiddenEntry {
    uint64_t key;
    std::vector<float> values;  // [n_targets][hidden_size]
  };
  struct KeysEntry {
    int32_t doc;
    KeysHandle keys;
  };
  struct BlockId {
    int32_t doc;
    int64_t target, block;
    friend bool operator==(const BlockId&, const BlockId&) = default;
  };
  struct BlockIdHash {
    size_t operator()(const BlockId& b) const {
      return std::hash<uint64_t>()((static_cast<uint64_t>(b.doc) << 40) ^
                                   (static_cast<uint64_t>(b.target) << 28) ^
                                   static_cast<uint64_t>(b.block));
    }
  };
  struct BlockEntry {
    BlockId id;
    std::vector<float> values;  // [rows][index_head_dim]
  };
  struct ReaderEntry {
    int32_t doc;
    std::shared_ptr<const labels::LabelFileReader> reader;
  };

  // The open reader of streamed document `doc`, opening it (and checking it is still the file
  // that was loaded) when needed. Called with mu_ held.
  absl::StatusOr<std::shared_ptr<const labels::LabelFileReader>> ReaderLocked(int32_t doc);
  void CacheHiddenLocked(uint64_t key, const float* values);
  // Moves a block just read into the cache (evicting the least recent ones to fit), or drops it.
  void CacheKeyBlockLocked(const BlockId& id, std::vector<float> values);

  const TrainCorpus* corpus_;
  FeatureStoreOptions options_;
  kernels::cpu::ThreadPool* pool_;
  int64_t record_floats_ = 0;  // n_targets * hidden_size

  mutable std::mutex mu_;
  std::list<HiddenEntry> hidden_lru_;  // front = most recent
  std::unordered_map<uint64_t, std::list<HiddenEntry>::iterator> hidden_index_;
  std::list<KeysEntry> keys_lru_;
  std::list<BlockEntry> block_lru_;  // front = most recent
  std::unordered_map<BlockId, std::list<BlockEntry>::iterator, BlockIdHash> block_index_;
  int64_t block_cache_used_ = 0;  // bytes of block_lru_
  std::list<ReaderEntry> readers_;

  // Resident-byte accounting, shared with the deleters of the key handles and readers (which may
  // run after the store is gone).
  struct Counters {
    std::atomic<int64_t> resident{0}, peak{0};
    std::atomic<int64_t> block_resident{0}, block_peak{0};
    std::atomic<int64_t> closed_reader_bytes{0};  // bytes_read of readers already closed
    void Add(int64_t bytes);
    void AddBlock(int64_t bytes);  // key-row blocks: counted in both totals
  };
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
  std::atomic<int64_t> token_reads_{0}, key_reads_{0}, key_block_reads_{0};
};

}  // namespace fm::rt::train
