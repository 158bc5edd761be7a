// Level-1 cycle tests on the synthetic "tiny" checkpoint with 4-chunk (16-token) pages: with a KMAX
// that covers every page, LSA decoding is bit-identical to full mode, token for token; with a small
// KMAX every Level-2 pick on every CSA layer is a resident chunk (and the picks do change); the
// reference's semantics (no spare pages) keep chunks formed after the boundary out of CSA; the
// sequence hooks reject bad layers.

#include "runtime/lsa/level1.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/model/model.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/synth.h"
#include "runtime/weights/test_util.h"
#include "runtime/lsa/tiny_model_test_util.h"

namespace fm::rt {
namespace {

constexpr int64_t kTau = 8;  // boundary every 8 decode steps (< one 16-token page)
const std::vector<int64_t> kCsaLayers = {1, 3};

class Level1Test : public testing::TinyModelIndexerTest<Level1Test> {
 public:
  static constexpr const char* kCheckpointTag = "lsa_level1_test";
  static constexpr uint64_t kCheckpointSeed = 13;

 protected:
  static Level1Options Options(int32_t kmax, int64_t tail_chunks, bool spare) {
    Level1Options o;
    o.geometry.chunks_per_page = 4;
    o.kmax_max_pages = 1024;
    o.policy.kmax_pages = kmax;
    o.policy.tail_chunks = tail_chunks;
    o.include_spare_page = spare;
    return o;
  }

  static constexpr uint32_t kPromptSeed = 21;

  static int32_t Argmax(const std::vector<float>& v) {
    return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
  }
};

TEST_F(Level1Test, KmaxCoveringEveryPageDecodesIdenticallyToFullMode) {
  auto level1 = Level1::Create(indexer_.get(), Options(1024, 8, true));
  ASSERT_TRUE(level1.ok()) << level1.status();
  const int64_t vocab = model_->config().vocab_size;
  auto full = model_->NewSequence();
  auto lsa = model_->NewSequence();
  ASSERT_TRUE(level1->Attach(*lsa).ok());
  const std::vector<int32_t> prompt = Prompt(70, kPromptSeed);
  std::vector<float> a(static_cast<size_t>(70 * vocab)), b(a.size());
  ASSERT_TRUE(full->Prefill(prompt, 0, a.data()).ok());
  ASSERT_TRUE(lsa->Prefill(prompt, 0, b.data()).ok());
  EXPECT_EQ(std::vector<float>(a.end() - vocab, a.end()), std::vector<float>(b.end() - vocab, b.end()));
  std::vector<float> la(static_cast<size_t>(vocab)), lb(la.size());
  std::copy(a.end() - vocab, a.end(), la.begin());
  Level1Result result;
  int cycles = 0;
  for (int64_t step = 0; step < 64; ++step) {
    if (step % kTau == 0) {
      ASSERT_TRUE(level1->RunCycle(*lsa, &result).ok());
      ++cycles;
      EXPECT_EQ(result.n_chunks, lsa->length() / 4);
      EXPECT_EQ(static_cast<int64_t>(result.selection.ascending.size()),
                (result.n_chunks + 3) / 4);  // every page with content
      ASSERT_NE(lsa->resident_chunks(), nullptr);
      EXPECT_GE(result.resident_chunks, result.n_chunks);
    }
    const int32_t token = Argmax(la);
    ASSERT_TRUE(full->Decode(token, la.data()).ok());
    ASSERT_TRUE(lsa->Decode(token, lb.data()).ok());
    ASSERT_EQ(la, lb) << "step " << step;  // bit-identical, so the same next token
  }
  EXPECT_EQ(cycles, 8);
  EXPECT_EQ(lsa->length(), 134);
}

TEST_F(Level1Test, SmallKmaxRestrictsEveryLevel2PickToResidentChunks) {
  auto level1 = Level1::Create(indexer_.get(), Options(3, 4, true));
  const int64_t vocab = model_->config().vocab_size;
  auto full = model_->NewSequence();
  auto lsa = model_->NewSequence();
  ASSERT_TRUE(level1.ok()) << level1.status();
  ASSERT_TRUE(level1->Attach(*lsa).ok());
  full->SetIndexerTracing(true);
  lsa->SetIndexerTracing(true);
  const std::vector<int32_t> prompt = Prompt(128, kPromptSeed);
  ASSERT_TRUE(full->Prefill(prompt, 0, nullptr).ok());
  ASSERT_TRUE(lsa->Prefill(prompt, 0, nullptr).ok());
  std::vector<float> logits(static_cast<size_t>(vocab));
  Level1Result result;
  int differing = 0, scored = 0, checked = 0;
  std::mt19937 rng(9);
  for (int64_t step = 0; step < 64; ++step) {
    if (step % kTau == 0) {
      ASSERT_TRUE(level1->RunCycle(*lsa, &result).ok());
      EXPECT_EQ(result.selection.ascending.size(), 3u);
      EXPECT_EQ(result.probs.size(), 2u);
      EXPECT_LE(result.resident_chunks, (3 + 2) * 4);
    }
    const int32_t token = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
    ASSERT_TRUE(full->Decode(token, nullptr).ok());
    ASSERT_TRUE(lsa->Decode(token, logits.data()).ok());
    const ResidentSet* set = lsa->resident_chunks();
    ASSERT_NE(set, nullptr);
    for (int64_t layer : kCsaLayers) {
      auto t_lsa = lsa->LastIndexerTrace(layer);
      auto t_full = full->LastIndexerTrace(layer);
      ASSERT_TRUE(t_lsa.ok() && t_full.ok()) << t_lsa.status() << t_full.status();
      EXPECT_EQ((*t_full)->selected.size(), 8u);  // index_topk of 30+ chunks
      for (int32_t j : (*t_lsa)->selected) {
        ASSERT_TRUE(j < static_cast<int64_t>(set->mask.size()) && set->mask[static_cast<size_t>(j)])
            << "step " << step << " layer " << layer << " picked non-resident chunk " << j;
        ++checked;
      }
      const std::vector<float>& sc = (*t_lsa)->scores;
      for (size_t j = 0; j < sc.size(); ++j) {
        const bool resident = j < set->mask.size() && set->mask[j];
        EXPECT_EQ(std::isfinite(sc[j]), resident) << "step " << step << " chunk " << j;
      }
      differing += (*t_lsa)->selected != (*t_full)->selected;
      scored += !(*t_lsa)->scores.empty();
    }
  }
  EXPECT_GT(checked, 0);
  EXPECT_GT(differing, 0) << "a 3-page budget over 8+ pages never changed a pick";
  EXPECT_GT(scored, 0) << "the masked top-k path was never exercised";
}

TEST_F(Level1Test, WithoutSparePagesChunksFormedAfterTheBoundaryAreNotReachable) {
  auto level1 = Level1::Create(indexer_.get(), Options(1024, 8, false));
  ASSERT_TRUE(level1.ok()) << level1.status();
  auto lsa = model_->NewSequence();
  ASSERT_TRUE(level1->Attach(*lsa).ok());
  lsa->SetIndexerTracing(true);
  // 9 chunks, one more than index_topk.
  ASSERT_TRUE(lsa->Prefill(Prompt(36, kPromptSeed), 0, nullptr).ok());
  Level1Result result;
  ASSERT_TRUE(level1->RunCycle(*lsa, &result).ok());
  EXPECT_EQ(result.n_chunks, 9);
  EXPECT_EQ(lsa->resident_chunks()->mask.size(), 9u);
  for (int32_t token = 5; token < 5 + 12; ++token) {
    ASSERT_TRUE(lsa->Decode(token, nullptr).ok());
    for (int64_t layer : kCsaLayers) {
      auto trace = lsa->LastIndexerTrace(layer);
      ASSERT_TRUE(trace.ok()) << trace.status();
      for (int32_t j : (*trace)->selected) EXPECT_LT(j, 9) << "chunk formed after the boundary";
    }
  }
  EXPECT_EQ(lsa->IndexKeyCount(1), 12);  // 48 tokens: 3 chunks formed since the boundary
}

TEST_F(Level1Test, HooksAndCycleRejectMisuseWithClearErrors) {
  auto seq = model_->NewSequence();
  EXPECT_EQ(seq->SetHiddenCapture(std::vector<int64_t>{0}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seq->SetHiddenCapture(std::vector<int64_t>{9}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seq->CapturedHidden(1).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(seq->LastIndexerTrace(1).status().code(), absl::StatusCode::kFailedPrecondition);
  std::vector<float> keys(64);
  EXPECT_EQ(seq->IndexKeys(1, 0, 1, keys.data()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seq->IndexKeys(2, 0, 0, keys.data()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seq->resident_chunks(), nullptr);

  auto level1 = Level1::Create(indexer_.get(), Options(4, 8, true));
  ASSERT_TRUE(level1.ok()) << level1.status();
  Level1Result result;
  EXPECT_EQ(level1->RunCycle(*seq, &result).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(seq->Prefill(Prompt(20, kPromptSeed), 0, nullptr).ok());
  auto no_capture = level1->RunCycle(*seq, &result);
  EXPECT_EQ(no_capture.code(), absl::StatusCode::kFailedPrecondition) << no_capture;

  seq->SetResidentChunks(ResidentSet{{1, 0, 1}});
  ASSERT_NE(seq->resident_chunks(), nullptr);
  seq->ClearResidentChunks();
  EXPECT_EQ(seq->resident_chunks(), nullptr);

  Level1Options bad = Options(4, 8, true);
  bad.geometry.tokens_per_chunk = 8;
  EXPECT_EQ(Level1::Create(indexer_.get(), bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = Options(4, 8, true);
  bad.policy.threshold = 1.5;
  EXPECT_EQ(Level1::Create(indexer_.get(), bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Level1::Create(nullptr, Options(4, 8, true)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fm::rt
