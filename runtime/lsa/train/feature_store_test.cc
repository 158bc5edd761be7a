// Streaming the corpus (FeatureStore): training on label files read on demand, with a hidden-state
// cache and key cache far smaller than the corpus, ends bit-identical to training on the same
// corpus held in memory (same samples, same order, same weights and validation); the resident
// bytes stay within the caps; a record corrupted after loading and a file replaced during training
// are refused with errors naming the file.

#include "runtime/lsa/train/feature_store.h"

#include <gtest/gtest.h>

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
using testing::RandomRetriever;
using testing::TinyModelConfig;
using testing::WriteLabelFiles;

constexpr int64_t kDocs = 6, kTokens = 40, kChunks = 50;

class FeatureStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = TinyModelConfig();
    std::mt19937_64 rng(5);
    memory_ = RandomCorpusOfDocuments(config_, {0, 1}, kDocs, kTokens, kChunks, rng);
    WriteLabelFiles(config_, memory_, dir_.path());
    auto s = LoadTrainCorpus({dir_.path()}, config_, 0.8);
    ASSERT_TRUE(s.ok()) << s.status();
    streamed_ = std::move(*s);
    options_.sampling.tau = 6;
    options_.epochs = 2;
    options_.batch = 8;
    options_.adam.lr = 3e-3;
    options_.val_fraction = 0.25;
    options_.validation.geometry.chunks_per_page = 4;
    options_.validation.policy.kmax_pages = 4;
    options_.validation.policy.tail_chunks = 4;
  }

  std::unique_ptr<IndexerTrainer> Make(const TrainCorpus* corpus, const TrainOptions& o,
                                       const std::filesystem::path& out) {
    std::mt19937_64 rng(3);
    std::vector<RetrieverWeights> layers;
    layers.push_back(RandomRetriever(config_, 0, 16, 2, rng));
    layers.push_back(RandomRetriever(config_, 1, 16, 2, rng));
    auto mi = MemoryIndexer::FromWeights(config_, std::move(layers));
    EXPECT_TRUE(mi.ok()) << mi.status();
    if (!mi.ok()) return nullptr;
    (*mi)->UseThreadPool(&pool_);
    auto tr = IndexerTrainer::Create(std::move(*mi), corpus, o, out);
    EXPECT_TRUE(tr.ok()) << tr.status();
    return tr.ok() ? std::move(*tr) : nullptr;
  }

  int64_t RecordBytes() const {
    return memory_.n_targets() * config_.hidden_size * static_cast<int64_t>(sizeof(float));
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
  small.store.open_files = 2;
  auto b = Make(&streamed_, small, out_b.path());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Run(nullptr, nullptr).ok());
  ASSERT_TRUE(b->Run(nullptr, nullptr).ok());
  ASSERT_EQ(a->state().step, b->state().step);
  for (int64_t t = 0; t < 2; ++t) {
    EXPECT_EQ(a->indexer().target(t).wq_a, b->indexer().target(t).wq_a);
    EXPECT_EQ(a->indexer().target(t).q_norm, b->indexer().target(t).q_norm);
    EXPECT_EQ(a->indexer().target(t).wq_b, b->indexer().target(t).wq_b);
    EXPECT_EQ(a->indexer().target(t).weights_proj, b->indexer().target(t).weights_proj);
  }
  ASSERT_EQ(a->state().history.size(), b->state().history.size());
  for (size_t i = 0; i < a->state().history.size(); ++i) {
    EXPECT_EQ(a->state().history[i]["validation"], b->state().history[i]["validation"]) << i;
    EXPECT_EQ(a->state().history[i]["train_loss"], b->state().history[i]["train_loss"]) << i;
  }
  EXPECT_EQ(a->state().best.step, b->state().best.step);
  EXPECT_EQ(rt::testing::ReadBytes(out_a.path() / kBestIndexerFileName),
            rt::testing::ReadBytes(out_b.path() / kBestIndexerFileName));

  // The in-memory corpus is served in place; the streamed one re-read records the cache had
  // evicted, and never held more than the cache plus two documents' keys (the one in use and the
  // one being loaded).
  EXPECT_EQ(a->store().peak_resident_bytes(), 0);
  EXPECT_GT(b->store().token_reads(), streamed_.n_tokens());
  EXPECT_GT(b->store().key_reads(), kDocs);
  const int64_t bound = small.store.hidden_cache_bytes + 2 * DocKeyBytes();
  EXPECT_LE(b->store().peak_resident_bytes(), bound);
  EXPECT_GT(b->store().peak_resident_bytes(), 0);
  EXPECT_LT(bound, streamed_.feature_bytes() / 2);
  std::printf("corpus hidden states + keys %lld B; streamed peak resident %lld B (bound %lld B)\n",
              static_cast<long long>(streamed_.feature_bytes()),
              static_cast<long long>(b->store().peak_resident_bytes()),
              static_cast<long long>(bound));
  b.reset();  // the cache is released with the store
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
