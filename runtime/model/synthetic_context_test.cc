// FillSyntheticContext: a benchmark-only way to reach long contexts without a prefill.

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/model/model.h"
#include "runtime/weights/synth.h"
#include "runtime/weights/test_util.h"

namespace fm::rt {
namespace {

std::unique_ptr<Model> TinyModel(testing::ScratchDir& dir, KvMode mode) {
  SynthOptions o;
  o.preset = "tiny";
  EXPECT_TRUE(WriteSynthCheckpoint(o, dir.path()).ok());
  ModelOptions mo;
  mo.kv_mode = mode;
  mo.n_threads = 1;
  auto model = Model::Load(dir.path(), mo);
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(model).value();
}

TEST(SyntheticContextTest, DecodeRunsAtTheFilledLengthWithFiniteLogits) {
  testing::ScratchDir dir("synthetic_context");
  for (KvMode mode : {KvMode::kFp32, KvMode::kFp8}) {
    auto model = TinyModel(dir, mode);
    auto seq = model->NewSequence();
    ASSERT_TRUE(seq->FillSyntheticContext(300, 1).ok());
    EXPECT_EQ(seq->length(), 300);
    std::vector<float> logits(static_cast<size_t>(model->config().vocab_size));
    for (int step = 0; step < 5; ++step) {  // crosses a c4 boundary and uses the filled entries
      ASSERT_TRUE(seq->Decode(3, logits.data()).ok());
      for (float v : logits) ASSERT_TRUE(std::isfinite(v));
    }
    EXPECT_EQ(seq->length(), 305);
  }
}

TEST(SyntheticContextTest, SameSeedGivesTheSameState) {
  testing::ScratchDir dir("synthetic_context_seed");
  auto model = TinyModel(dir, KvMode::kFp8);
  std::vector<float> a(static_cast<size_t>(model->config().vocab_size)), b(a.size()), c(a.size());
  auto s1 = model->NewSequence(), s2 = model->NewSequence(), s3 = model->NewSequence();
  ASSERT_TRUE(s1->FillSyntheticContext(100, 9).ok());
  ASSERT_TRUE(s2->FillSyntheticContext(100, 9).ok());
  ASSERT_TRUE(s3->FillSyntheticContext(100, 10).ok());
  ASSERT_TRUE(s1->Decode(5, a.data()).ok());
  ASSERT_TRUE(s2->Decode(5, b.data()).ok());
  ASSERT_TRUE(s3->Decode(5, c.data()).ok());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(SyntheticContextTest, RejectsNonEmptySequenceAndBadLengths) {
  testing::ScratchDir dir("synthetic_context_bad");
  auto model = TinyModel(dir, KvMode::kFp32);
  auto seq = model->NewSequence();
  EXPECT_EQ(seq->FillSyntheticContext(0, 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seq->FillSyntheticContext(model->config().max_position_embeddings + 1, 1).code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<float> logits(static_cast<size_t>(model->config().vocab_size));
  ASSERT_TRUE(seq->Decode(1, logits.data()).ok());
  EXPECT_EQ(seq->FillSyntheticContext(10, 1).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace fm::rt
