#include "runtime/lsa/train/feature_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace fm::rt::train {
namespace {

uint64_t TokenKey(const TokenRef& t) {
  return (static_cast<uint64_t>(t.doc) << 40) | static_cast<uint64_t>(t.token);
}

}  // namespace

namespace {

void AddWithPeak(std::atomic<int64_t>& value, std::atomic<int64_t>& peak, int64_t bytes) {
  const int64_t now = value.fetch_add(bytes) + bytes;
  int64_t peak_seen = peak.load();
  while (now > peak_seen && !peak.compare_exchange_weak(peak_seen, now)) {
  }
}

}  // namespace

void FeatureStore::Counters::Add(int64_t bytes) { AddWithPeak(resident, peak, bytes); }

void FeatureStore::Counters::AddBlock(int64_t bytes) {
  AddWithPeak(block_resident, block_peak, bytes);
  Add(bytes);
}

FeatureStore::FeatureStore(const TrainCorpus* corpus, const FeatureStoreOptions& options,
                           kernels::cpu::ThreadPool* pool)
    : corpus_(corpus),
      options_(options),
      pool_(pool),
      record_floats_(corpus->n_targets() * corpus->hidden_size) {}

FeatureStore::~FeatureStore() {
  // The hidden and block caches are owned here; key handles account for themselves.
  counters_->Add(-static_cast<int64_t>(hidden_lru_.size()) * record_floats_ *
                 static_cast<int64_t>(sizeof(float)));
  counters_->AddBlock(-block_cache_used_);
}

int64_t FeatureStore::bytes_read() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t total = counters_->closed_reader_bytes.load();
  for (const ReaderEntry& e : readers_) total += e.reader->bytes_read();
  return total;
}

absl::StatusOr<std::shared_ptr<const labels::LabelFileReader>> FeatureStore::ReaderLocked(
    int32_t doc) {
  for (auto it = readers_.begin(); it != readers_.end(); ++it) {
    if (it->doc == doc) {
      readers_.splice(readers_.begin(), readers_, it);
      return readers_.front().reader;
    }
  }
  const TrainDocument& d = corpus_->documents[static_cast<size_t>(doc)];
  FM_ASSIGN_OR_RETURN(std::unique_ptr<labels::LabelFileReader> r,
                      labels::LabelFileReader::Open(d.path));
  if (r->file_bytes() != d.file_bytes || r->n_tokens() != d.labels.n_tokens() ||
      r->counts().n_chunks != d.labels.n_chunks || r->n_targets() != corpus_->n_targets() ||
      r->header().hidden_size != corpus_->hidden_size ||
      r->header().index_head_dim != corpus_->index_head_dim) {
    return absl::DataLossError(
        absl::StrCat(d.path.string(), ": the file changed since it was loaded (", r->file_bytes(),
                     " bytes, ", r->n_tokens(), " tokens; loaded: ", d.file_bytes, " bytes, ",
                     d.labels.n_tokens(), " tokens)"));
  }
  // The reader's byte count joins the store's total when its last user lets it go.
  std::shared_ptr<Counters> counters = counters_;
  std::shared_ptr<const labels::LabelFileReader> shared(
      r.release(), [counters](const labels::LabelFileReader* p) {
        counters->closed_reader_bytes += p->bytes_read();
        delete p;
      });
  readers_.push_front({doc, std::move(shared)});
  while (static_cast<int64_t>(readers_.size()) > std::max<int64_t>(1, options_.open_files)) {
    readers_.pop_back();
  }
  return readers_.front().reader;
}

void FeatureStore::CacheHiddenLocked(uint64_t key, const float* values) {
  const int64_t bytes = record_floats_ * static_cast<int64_t>(sizeof(float));
  if (bytes > options_.hidden_cache_bytes || hidden_index_.count(key) != 0) return;
  while ((static_cast<int64_t>(hidden_lru_.size()) + 1) * bytes > options_.hidden_cache_bytes) {
    hidden_index_.erase(hidden_lru_.back().key);
    hidden_lru_.pop_back();
    counters_->Add(-bytes);
  }
  hidden_lru_.push_front({key, std::vector<float>(values, values + record_floats_)});
  hidden_index_[key] = hidden_lru_.begin();
  counters_->Add(bytes);
}

absl::Status FeatureStore::GatherHidden(absl::Span<const TokenRef> tokens,
                                        std::vector<float>* out) {
  const int64_t n = static_cast<int64_t>(tokens.size()), F = record_floats_;
  out->resize(static_cast<size_t>(n * F));
  // Misses of streamed documents, with the reader each is read through.
  std::vector<int64_t> misses;
  std::vector<std::shared_ptr<const labels::LabelFileReader>> readers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int64_t i = 0; i < n; ++i) {
      const TokenRef& tok = tokens[static_cast<size_t>(i)];
      const TrainDocument& doc = corpus_->documents[static_cast<size_t>(tok.doc)];
      float* dst = out->data() + i * F;
      if (!doc.streamed) {
        std::copy_n(doc.hidden.data() + tok.token * F, F, dst);
        continue;
      }
      auto hit = hidden_index_.find(TokenKey(tok));
      if (hit != hidden_index_.end()) {
        hidden_lru_.splice(hidden_lru_.begin(), hidden_lru_, hit->second);
        std::copy_n(hit->second->values.data(), F, dst);
        continue;
      }
      FM_ASSIGN_OR_RETURN(std::shared_ptr<const labels::LabelFileReader> r, ReaderLocked(tok.doc));
      misses.push_back(i);
      readers.push_back(std::move(r));
    }
  }
  if (misses.empty()) return absl::OkStatus();
  // pread is thread-safe: the records are read (and CRC-checked) in parallel.
  std::vector<absl::Status> status(misses.size());
  kernels::cpu::ParallelForOrInline(
      pool_, static_cast<int64_t>(misses.size()), 1, [&](int64_t m0, int64_t m1) {
        labels::TokenRecord rec;
        for (int64_t m = m0; m < m1; ++m) {
          const int64_t i = misses[static_cast<size_t>(m)];
          const TokenRef& tok = tokens[static_cast<size_t>(i)];
          absl::Status& s = status[static_cast<size_t>(m)];
          s = readers[static_cast<size_t>(m)]->ReadToken(tok.token, &rec);
          if (s.ok() && static_cast<int64_t>(rec.hidden.size()) != F) {
            s = absl::DataLossError(absl::StrCat(
                readers[static_cast<size_t>(m)]->path().string(), ": token ", tok.token, " holds ",
                rec.hidden.size(), " hidden values; expected ", F));
          }
          if (s.ok()) std::copy_n(rec.hidden.data(), F, out->data() + i * F);
        }
      });
  token_reads_ += static_cast<int64_t>(misses.size());
  for (const absl::Status& s : status) FM_RETURN_IF_ERROR(s);
  std::lock_guard<std::mutex> lock(mu_);
  for (int64_t i : misses) {
    CacheHiddenLocked(TokenKey(tokens[static_cast<size_t>(i)]), out->data() + i * F);
  }
  return absl::OkStatus();
}

absl::StatusOr<FeatureStore::KeysHandle> FeatureStore::Keys(int32_t doc_index) {
  const TrainDocument& doc = corpus_->documents[static_cast<size_t>(doc_index)];
  if (!doc.streamed) {
    // Served from the corpus itself (a non-owning handle).
    return KeysHandle(KeysHandle(), &doc.keys);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = keys_lru_.begin(); it != keys_lru_.end(); ++it) {
    if (it->doc == doc_index) {
      keys_lru_.splice(keys_lru_.begin(), keys_lru_, it);
      return keys_lru_.front().keys;
    }
  }
  FM_ASSIGN_OR_RETURN(std::shared_ptr<const labels::LabelFileReader> r, ReaderLocked(doc_index));
  auto keys = std::make_unique<std::vector<std::vector<float>>>();
  const int64_t want = doc.labels.n_chunks * corpus_->index_head_dim;
  for (int64_t t = 0; t < corpus_->n_targets(); ++t) {
    FM_ASSIGN_OR_RETURN(std::vector<float> k, r->ReadIndexKeys(t));
    if (static_cast<int64_t>(k.size()) != want) {
      return absl::DataLossError(absl::StrCat(doc.name, ": target ", t, " holds ", k.size(),
                                              " key values; expected ", want));
    }
    keys->push_back(std::move(k));
  }
  ++key_reads_;
  const int64_t bytes = corpus_->n_targets() * want * static_cast<int64_t>(sizeof(float));
  counters_->Add(bytes);
  std::shared_ptr<Counters> counters = counters_;
  KeysHandle handle(keys.release(), [counters, bytes](const std::vector<std::vector<float>>* p) {
    delete p;
    counters->Add(-bytes);
  });
  keys_lru_.push_front({doc_index, handle});
  while (static_cast<int64_t>(keys_lru_.size()) > std::max<int64_t>(1, options_.key_documents)) {
    keys_lru_.pop_back();
  }
  return handle;
}

}  // namespace fm::rt::train

namespace fm::rt::train {

void FeatureStore::CacheKeyBlockLocked(const BlockId& id, std::vector<float> values) {
  const int64_t bytes = static_cast<int64_t>(values.size() * sizeof(float));
  if (bytes > options_.key_block_cache_bytes || block_index_.count(id) != 0) {
    counters_->AddBlock(-bytes);  // not kept: it was only in flight
    return;
  }
  while (block_cache_used_ + bytes > options_.key_block_cache_bytes) {
    const int64_t evicted = static_cast<int64_t>(block_lru_.back().values.size() * sizeof(float));
    block_index_.erase(block_lru_.back().id);
    block_lru_.pop_back();
    block_cache_used_ -= evicted;
    counters_->AddBlock(-evicted);
  }
  block_lru_.push_front({id, std::move(values)});
  block_index_[id] = block_lru_.begin();
  block_cache_used_ += bytes;  // already counted as resident while in flight
}

absl::Status FeatureStore::GatherKeyRows(int32_t doc_index, int64_t target,
                                         absl::Span<const int32_t> chunks, float* out) {
  const TrainDocument& doc = corpus_->documents[static_cast<size_t>(doc_index)];
  const int64_t DI = corpus_->index_head_dim, n_chunks = doc.labels.n_chunks;
  for (int32_t c : chunks) {
    if (c < 0 || c >= n_chunks) {
      return absl::OutOfRangeError(absl::StrCat(doc.name, ": index key row ", c, " of ", n_chunks,
                                                " (target ", target, ")"));
    }
  }
  if (!doc.streamed) {
    const std::vector<float>& all = doc.keys[static_cast<size_t>(target)];
    for (size_t j = 0; j < chunks.size(); ++j) {
      std::copy_n(all.data() + chunks[j] * DI, DI, out + static_cast<int64_t>(j) * DI);
    }
    return absl::OkStatus();
  }
  // The rows in block order, so each block is looked up (and read) once.
  std::vector<size_t> order(chunks.size());
  for (size_t j = 0; j < order.size(); ++j) order[j] = j;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return chunks[a] < chunks[b]; });
  auto copy_row = [&](const std::vector<float>& block, int64_t first_row, size_t j) {
    std::copy_n(block.data() + (chunks[j] - first_row) * DI, DI, out + static_cast<int64_t>(j) * DI);
  };
  struct Miss {
    int64_t block;
    size_t begin, end;  // its rows: order[begin, end)
  };
  std::vector<Miss> misses;
  std::shared_ptr<const labels::LabelFileReader> reader;
  int64_t R = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    FM_ASSIGN_OR_RETURN(reader, ReaderLocked(doc_index));
    R = reader->key_block_rows();
    for (size_t i = 0; i < order.size();) {
      const int64_t block = chunks[order[i]] / R;
      size_t end = i;
      while (end < order.size() && chunks[order[end]] / R == block) ++end;
      auto hit = block_index_.find({doc_index, target, block});
      if (hit == block_index_.end()) {
        misses.push_back({block, i, end});
      } else {
        block_lru_.splice(block_lru_.begin(), block_lru_, hit->second);
        for (size_t k = i; k < end; ++k) copy_row(hit->second->values, block * R, order[k]);
      }
      i = end;
    }
  }
  for (const Miss& m : misses) {
    // Counted as resident from before the read until it is cached or dropped.
    const int64_t bytes =
        reader->key_block_size(m.block) * DI * static_cast<int64_t>(sizeof(float));
    counters_->AddBlock(bytes);
    std::vector<float> block;
    if (absl::Status s = reader->ReadIndexKeyBlock(target, m.block, &block); !s.ok()) {
      counters_->AddBlock(-bytes);
      return s;
    }
    ++key_block_reads_;
    for (size_t k = m.begin; k < m.end; ++k) copy_row(block, m.block * R, order[k]);
    std::lock_guard<std::mutex> lock(mu_);
    CacheKeyBlockLocked({doc_index, target, m.block}, std::move(block));
  }
  return absl::OkStatus();
}

}  // namespace fm::rt::train
