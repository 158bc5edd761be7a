// Streaming the corpus (FeatureStore): training on label files read on demand, with a hidden-state
// cache and key cache far smaller than the corpus, ends bit-identical to training on the same
// corpus held in memory (same samples, same order, same weights and validation); the resident
// bytes stay within the caps, training steps read only the key-row blocks their samples score
// (never a whole document's keys) and hold no more key bytes than the block cache plus one block
// per thread; a record or key block corrupted after loading and a file replaced during training
// are refused with errors naming the file.

#include "runtime/lsa/train/feature_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/thread_pool.h"
#include "runtime/lsa/train/train_test_util.h"
#include "runtime/lsa/train/trainer.h"
#include "runtime/weights/test_util.h"

namespace fm::rt::train {
namespace {

using testing::RandomCorpusOfDocuments;
using testing::ExpectSameWeights;
using testing::RandomTwoTargetIndexer;
using testing::SmallTrainOptions;
using testing::TinyModelConfig;
using testing::WriteLabelFiles;

constexpr int64_t kDocs = 6, kTokens = 40, kChunks = 50;
constexpr int64_t kKeyBlockRows = 8;  // 7 blocks per target, the last of 2 rows

class FeatureStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = TinyModelConfig();
    std::mt19937_64 rng(5);
    memory_ = RandomCorpusOfDocuments(config_, {0, 1}, kDocs, kTokens, kChunks, rng);
    WriteLabelFiles(config_, memory_, dir_.path(), kKeyBlockRows);
    auto s = LoadTrainCorpus({dir_.path()}, config_, 0.8);
    ASSERT_TRUE(s.ok()) << s.status();
    streamed_ = std::move(*s);
    options_ = SmallTrainOptions();
  }

  std::unique_ptr<IndexerTrainer> Make(const TrainCorpus* corpus, const TrainOptions& o,
                                       const std::filesystem::path& out) {
    std::unique_ptr<MemoryIndexer> mi = RandomTwoTargetIndexer(config_, 16, 2, 3);
    if (!mi) return nullptr;
    mi->UseThreadPool(&pool_);
    auto tr = IndexerTrainer::Create(std::move(mi), corpus, o, out);
    EXPECT_TRUE(tr.ok()) << tr.status();
    return tr.ok() ? std::move(*tr) : nullptr;
  }

  int64_t RecordBytes() const {
    return memory_.n_targets() * config_.hidden_size * static_cast<int64_t>(sizeof(float));
  }
  int64_t BlockBytes() const {
    return kKeyBlockRows * config_.index_head_dim * static_cast<int64_t>(sizeof(float));
  }
  // Key-row bytes a store may hold: its block cache plus one block per thread (pool and caller).
  int64_t BlockBound(const FeatureStoreOptions& o) const {
    return o.key_block_cache_bytes + 3 * BlockBytes();
  }
  int64_t DocKeyBytes() const {
    return memory_.n_targets() * kChunks * config_.index_head_dim *
           static_cast<int64_t>(sizeof(float));
  }

  ModelConfig config_;
  rt::testing::ScratchDir dir_{"feature_store"};
  TrainCorpus memory_, streamed_;
  TrainOptions options_;
  kernels::cpu::ThreadPool pool_{2};
};

TEST_F(FeatureStoreTest, StreamedTrainingIsBitIdenticalToInMemoryAndBounded) {
  ASSERT_EQ(streamed_.documents.size(), static_cast<size_t>(kDocs));
  rt::testing::ScratchDir out_a("fs_memory"), out_b("fs_streamed");
  auto a = Make(&memory_, options_, out_a.path());
  TrainOptions small = options_;
  small.store.hidden_cache_bytes = 16 * RecordBytes();  // 16 of the corpus's 240 token records
  small.store.key_documents = 1;
  small.store.key_block_cache_bytes = 4 * BlockBytes();  // 4 of the corpus's 84 key blocks
  small.store.open_files = 2;
  auto b = Make(&streamed_, small, out_b.path());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Run(nullptr, nullptr).ok());
  ASSERT_TRUE(b->Run(nullptr, nullptr).ok());
  ASSERT_EQ(a->state().step, b->state().step);
  ExpectSameWeights(a->indexer(), b->indexer());
  ASSERT_EQ(a->state().history.size(), b->state().history.size());
  for (size_t i = 0; i < a->state().history.size(); ++i) {
    EXPECT_EQ(a->state().history[i]["validation"], b->state().history[i]["validation"]) << i;
    EXPECT_EQ(a->state().history[i]["train_loss"], b->state().history[i]["train_loss"]) << i;
  }
  EXPECT_EQ(a->state().best.step, b->state().best.step);
  EXPECT_EQ(rt::testing::ReadBytes(out_a.path() / kBestIndexerFileName),
            rt::testing::ReadBytes(out_b.path() / kBestIndexerFileName));

  // The in-memory corpus is served in place; the streamed one re-read records and key blocks the
  // caches had evicted, and never held more than the caches, a block per thread and two
  // documents' keys for validation (the one in use and the one being loaded).
  EXPECT_EQ(a->store().peak_resident_bytes(), 0);
  EXPECT_GT(b->store().token_reads(), streamed_.n_tokens());
  EXPECT_GT(b->store().key_block_reads(), 2 * kDocs * 7);
  EXPECT_LE(b->store().peak_key_block_bytes(), BlockBound(small.store));
  EXPECT_GT(b->bytes_read_per_step(), 0);
  const int64_t bound =
      small.store.hidden_cache_bytes + BlockBound(small.store) + 2 * DocKeyBytes();
  EXPECT_LE(b->store().peak_resident_bytes(), bound);
  EXPECT_GT(b->store().peak_resident_bytes(), 0);
  EXPECT_LT(bound, streamed_.feature_bytes() / 2);
  std::printf("corpus hidden states + keys %lld B; streamed peak resident %lld B (bound %lld B)\n",
              static_cast<long long>(streamed_.feature_bytes()),
              static_cast<long long>(b->store().peak_resident_bytes()),
              static_cast<long long>(bound));
  b.reset();  // the cache is released with the store
}

TEST_F(FeatureStoreTest, TrainingStepsReadOnlyKeyRowBlocksWithinTheCache) {
  rt::testing::ScratchDir out_a("fs_rows_memory"), out_b("fs_rows_streamed");
  TrainOptions o = options_;
  o.store.key_block_cache_bytes = 3 * BlockBytes();
  auto a = Make(&memory_, o, out_a.path());
  auto b = Make(&streamed_, o, out_b.path());
  ASSERT_TRUE(a && b);
  std::vector<RetrieverGrads> ga, gb;
  int64_t rows = 0;
  for (int64_t index = 0; index < 4; ++index) {
    const std::vector<TrainSample> batch = a->BatchSamples(0, index);
    for (const TrainSample& s : batch) rows += 2 * static_cast<int64_t>(s.entries.chunks.size());
    auto la = a->LossAndGrads(batch, &ga);
    auto lb = b->LossAndGrads(b->BatchSamples(0, index), &gb);
    ASSERT_TRUE(la.ok() && lb.ok()) << la.status() << lb.status();
    EXPECT_EQ(*la, *lb);
    for (size_t t = 0; t < ga.size(); ++t) {
      EXPECT_EQ(ga[t].wq_a, gb[t].wq_a);
      EXPECT_EQ(ga[t].weights_proj, gb[t].weights_proj);
    }
    // Resident key bytes stay within the block cache plus a block per thread, far below one
    // document's keys, all along.
    EXPECT_LE(b->store().key_block_bytes(), o.store.key_block_cache_bytes);
  }
  const FeatureStore& store = b->store();
  EXPECT_EQ(store.key_reads(), 0);  // no whole document's keys
  EXPECT_GT(store.key_block_reads(), 0);
  EXPECT_LE(store.peak_key_block_bytes(), BlockBound(o.store));
  EXPECT_LT(BlockBound(o.store), DocKeyBytes());
  // Every block read was needed by some row (at most one block per scored row).
  EXPECT_LE(store.key_block_reads(), rows);
  std::printf("4 steps: %lld key blocks read (%lld B each), peak key bytes %lld B; a document's "
              "keys are %lld B\n",
              static_cast<long long>(store.key_block_reads()),
              static_cast<long long>(BlockBytes()),
              static_cast<long long>(store.peak_key_block_bytes()),
              static_cast<long long>(DocKeyBytes()));
  // The rows themselves, out of order and repeated, match the in-memory keys.
  FeatureStore fresh(&streamed_, o.store, &pool_);
  const std::vector<int32_t> chunks = {49, 3, 3, 17, 0, 48};
  std::vector<float> got(chunks.size() * static_cast<size_t>(config_.index_head_dim));
  ASSERT_TRUE(fresh.GatherKeyRows(2, 1, chunks, got.data()).ok());
  const int64_t DI = config_.index_head_dim;
  for (size_t j = 0; j < chunks.size(); ++j) {
    const float* want = memory_.documents[2].keys[1].data() + chunks[j] * DI;
    EXPECT_EQ(std::vector<float>(got.begin() + static_cast<std::ptrdiff_t>(j) * DI,
                                 got.begin() + static_cast<std::ptrdiff_t>(j + 1) * DI),
              std::vector<float>(want, want + DI))
        << "chunk " << chunks[j];
  }
  EXPECT_EQ(fresh.key_block_reads(), 3);  // blocks 0 (rows 0, 3), 2 (17) and 6 (48, 49)
  const std::vector<int32_t> past = {static_cast<int32_t>(kChunks)};
  EXPECT_EQ(fresh.GatherKeyRows(2, 1, past, got.data()).code(), absl::StatusCode::kOutOfRange);

  // Without a block cache a step still reads each block of a batch document at most once per
  // target (the union of its samples' rows is fetched once): never more than the old whole-key
  // loads.
  rt::testing::ScratchDir out_c("fs_rows_uncached");
  TrainOptions uncached = o;
  uncached.store.key_block_cache_bytes = 0;
  auto c = Make(&streamed_, uncached, out_c.path());
  ASSERT_TRUE(c);
  const std::vector<TrainSample> batch = c->BatchSamples(1, 0);
  std::vector<int32_t> docs;
  for (const TrainSample& smp : batch) docs.push_back(smp.token.doc);
  std::sort(docs.begin(), docs.end());
  docs.erase(std::unique(docs.begin(), docs.end()), docs.end());
  ASSERT_TRUE(c->LossAndGrads(batch, &gb).ok());
  EXPECT_GT(c->store().key_block_reads(), 0);
  EXPECT_LE(c->store().key_block_reads(), static_cast<int64_t>(docs.size()) * 2 * 7);
  EXPECT_EQ(c->store().key_block_bytes(), 0);
}

TEST_F(FeatureStoreTest, CacheHitsAndEvictionsKeepTheValues) {
  FeatureStoreOptions o;
  o.hidden_cache_bytes = 3 * RecordBytes();
  o.key_documents = 2;
  FeatureStore store(&streamed_, o, &pool_);
  FeatureStore in_memory(&memory_, o, &pool_);
  std::vector<TokenRef> tokens = {{0, 1}, {3, 7}, {0, 1}, {5, 39}, {2, 0}, {3, 7}};
  std::vector<float> got, want;
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(store.GatherHidden(tokens, &got).ok());
    ASSERT_TRUE(in_memory.GatherHidden(tokens, &want).ok());
    EXPECT_EQ(got, want);
    EXPECT_LE(store.resident_bytes(), o.hidden_cache_bytes);
  }
  for (int32_t doc : {4, 1, 4, 0}) {
    auto k = store.Keys(doc);
    ASSERT_TRUE(k.ok()) << k.status();
    EXPECT_EQ(**k, memory_.documents[static_cast<size_t>(doc)].keys);
  }
  EXPECT_EQ(store.key_reads(), 3);  // doc 4 was still cached the second time
  EXPECT_LE(store.resident_bytes(), o.hidden_cache_bytes + 2 * DocKeyBytes());
}

TEST_F(FeatureStoreTest, CorruptOrReplacedFilesAreRefusedNamingTheFile) {
  // A hidden state corrupted after loading (the load reads labels only): found by the record CRC
  // when training reads it.
  const std::filesystem::path doc1 = dir_.path() / "doc_001.fmlabels";
  std::string bytes = rt::testing::ReadBytes(doc1);
  const float* h = memory_.documents[1].token_hidden(5, 0, 2, config_.hidden_size);
  const std::string needle(reinterpret_cast<const char*>(h),
                           static_cast<size_t>(config_.hidden_size) * sizeof(float));
  const size_t at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 9] = static_cast<char>(bytes[at + 9] ^ 0x40);
  rt::testing::WriteBytes(doc1, bytes);
  auto reloaded = LoadTrainCorpus({dir_.path()}, config_, 0.8);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  {
    FeatureStore store(&*reloaded, {}, &pool_);
    std::vector<float> out;
    const std::vector<TokenRef> tokens = {{0, 2}, {1, 5}};
    absl::Status s = store.GatherHidden(tokens, &out);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find("doc_001.fmlabels"), std::string::npos) << s;
    // Training over it stops with that error too.
    rt::testing::ScratchDir out_dir("fs_corrupt");
    auto tr = Make(&*reloaded, options_, out_dir.path());
    ASSERT_TRUE(tr);
    s = tr->Run(nullptr, nullptr);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("doc_001.fmlabels"), std::string::npos) << s;
  }
  // A key block corrupted after loading: the rows of that block are refused, naming the file and
  // the block; rows of other blocks still read.
  {
    const std::filesystem::path doc2 = dir_.path() / "doc_002.fmlabels";
    std::string doc2_bytes = rt::testing::ReadBytes(doc2);
    const int64_t DI = config_.index_head_dim;
    const float* key = memory_.documents[2].keys[1].data() + 10 * DI;  // target 1, block 1
    const size_t key_at = doc2_bytes.find(std::string(
        reinterpret_cast<const char*>(key), static_cast<size_t>(DI) * sizeof(float)));
    ASSERT_NE(key_at, std::string::npos);
    doc2_bytes[key_at + 5] = static_cast<char>(doc2_bytes[key_at + 5] ^ 0x08);
    rt::testing::WriteBytes(doc2, doc2_bytes);
    FeatureStore store(&streamed_, {}, &pool_);
    std::vector<float> rows(static_cast<size_t>(2 * DI));
    const std::vector<int32_t> in_block = {9, 30}, elsewhere = {7, 30};
    absl::Status s = store.GatherKeyRows(2, 1, in_block, rows.data());
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find("doc_002.fmlabels"), std::string::npos) << s;
    EXPECT_NE(s.message().find("target 1 block 1"), std::string::npos) << s;
    EXPECT_TRUE(store.GatherKeyRows(2, 1, elsewhere, rows.data()).ok());
    EXPECT_TRUE(store.GatherKeyRows(2, 0, in_block, rows.data()).ok());
    // Kept: blocks 0 and 3 of target 1, 1 and 3 of target 0; not the one that failed.
    EXPECT_EQ(store.key_block_bytes(), 4 * BlockBytes());
  }
  // A file replaced by another document after loading.
  std::mt19937_64 rng(9);
  TrainCorpus other = RandomCorpusOfDocuments(config_, {0, 1}, 1, 30, kChunks, rng);
  rt::testing::ScratchDir other_dir("fs_other");
  WriteLabelFiles(config_, other, other_dir.path());
  std::filesystem::copy_file(other_dir.path() / "doc_000.fmlabels",
                             dir_.path() / "doc_000.fmlabels",
                             std::filesystem::copy_options::overwrite_existing);
  FeatureStore store(&streamed_, {}, &pool_);
  std::vector<float> out;
  const std::vector<TokenRef> first = {{0, 0}};
  absl::Status s = store.GatherHidden(first, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("doc_000.fmlabels"), std::string::npos) << s;
  EXPECT_NE(s.message().find("changed"), std::string::npos) << s;
  auto keys = store.Keys(0);
  EXPECT_FALSE(keys.ok());
  EXPECT_NE(keys.status().message().find("doc_000.fmlabels"), std::string::npos) << keys.status();
}

}  // namespace
}  // namespace fm::rt::train
