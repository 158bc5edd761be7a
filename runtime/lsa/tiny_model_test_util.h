#pragma once
// Test fixtures on the synthetic "tiny" checkpoint (runtime/weights/tiny_checkpoint_test_util.h):
// the checkpoint is written once per test suite, each test gets a fresh Model (fp8 KV, 2 threads)
// and, with TinyModelIndexerTest, the native memory indexer of the default target CSA layers.
// A suite names its scratch directory and synth seed (the seed picks the random weights):
//   class EngineTest : public testing::TinyModelIndexerTest<EngineTest> {
//    public:
//     static constexpr const char* kCheckpointTag = "engine_test";
//     static constexpr uint64_t kCheckpointSeed = 13;
//   };

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/lsa/memory_indexer.h"
#include "runtime/model/model.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/tiny_checkpoint_test_util.h"

namespace fm::rt::testing {

template <typename Suite>
class TinyModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    checkpoint_ = new TinyCheckpoint(Suite::kCheckpointTag, Suite::kCheckpointSeed, "fp8");
  }
  static void TearDownTestSuite() {
    delete checkpoint_;
    checkpoint_ = nullptr;
  }

  void SetUp() override {
    ModelOptions options;
    options.kv_mode = KvMode::kFp8;
    options.n_threads = 2;
    auto model = Model::Load(checkpoint_->path(), options);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(*model);
  }

  // n tokens drawn from the vocabulary by an mt19937 seeded with `seed` (same seed, same tokens).
  std::vector<int32_t> Prompt(int64_t n, uint32_t seed) const {
    std::mt19937 rng(seed);
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& v : t) {
      v = static_cast<int32_t>(rng() % static_cast<uint32_t>(model_->config().vocab_size));
    }
    return t;
  }

  static inline TinyCheckpoint* checkpoint_ = nullptr;
  std::unique_ptr<Model> model_;
};

template <typename Suite>
class TinyModelIndexerTest : public TinyModelTest<Suite> {
 protected:
  void SetUp() override {
    TinyModelTest<Suite>::SetUp();
    if (::testing::Test::HasFatalFailure()) return;
    auto ck = Checkpoint::Open(this->checkpoint_->path());
    ASSERT_TRUE(ck.ok()) << ck.status();
    auto mi = MemoryIndexer::FromNative(**ck, DefaultTargetCsaIndices((*ck)->config()), {});
    ASSERT_TRUE(mi.ok()) << mi.status();
    indexer_ = std::move(*mi);
  }

  std::unique_ptr<MemoryIndexer> indexer_;
};

}  // namespace fm::rt::testing
