#pragma once
// FeatureStore: the hidden states and index keys the trainer and the validation read, with bounded
// memory. A streamed corpus (LoadTrainCorpus's default) keeps only labels and positions in RAM;
// the store reads a batch's token records on demand (LabelFileReader::ReadToken, pread, CRC
// checked, in parallel on the pool) through an LRU cache capped in bytes, and a document's index
// keys (every target) when a batch or a validation block needs that document, keeping the last
// few documents' keys (LRU by count). Label files stay open in an LRU as well, so a corpus of many
// documents does not run out of file descriptors. In-memory documents (tests, --in-memory) are
// served from the corpus itself and are not counted. Values are exactly those of the file, so a
// streamed run is bit-identical to an in-memory one.

#include <atomic>
#include <cstdint>
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
  int64_t key_documents = 4;                      // documents whose index keys stay loaded
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

  // Document `doc`'s keys on every target.
  absl::StatusOr<KeysHandle> Keys(int32_t doc);

  // Bytes of streamed hidden states and keys held now (cache and live handles) and the peak.
  int64_t resident_bytes() const { return counters_->resident.load(); }
  int64_t peak_resident_bytes() const { return counters_->peak.load(); }
  // Token records and key sections read from files so far (cache misses).
  int64_t token_reads() const { return token_reads_.load(); }
  int64_t key_reads() const { return key_reads_.load(); }
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
  struct ReaderEntry {
    int32_t doc;
    std::shared_ptr<const labels::LabelFileReader> reader;
  };

  // The open reader of streamed document `doc`, opening it (and checking it is still the file
  // that was loaded) when needed. Called with mu_ held.
  absl::StatusOr<std::shared_ptr<const labels::LabelFileReader>> ReaderLocked(int32_t doc);
  void CacheHiddenLocked(uint64_t key, const float* values);

  const TrainCorpus* corpus_;
  FeatureStoreOptions options_;
  kernels::cpu::ThreadPool* pool_;
  int64_t record_floats_ = 0;  // n_targets * hidden_size

  std::mutex mu_;
  std::list<HiddenEntry> hidden_lru_;  // front = most recent
  std::unordered_map<uint64_t, std::list<HiddenEntry>::iterator> hidden_index_;
  std::list<KeysEntry> keys_lru_;
  std::list<ReaderEntry> readers_;

  // Resident-byte accounting, shared with the deleters of the key handles (which may run after
  // the store is gone).
  struct Counters {
    std::atomic<int64_t> resident{0}, peak{0};
    void Add(int64_t bytes);
  };
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
  std::atomic<int64_t> token_reads_{0}, key_reads_{0};
};

}  // namespace fm::rt::train
