// Golden-set tests on hand-made logits (spec §7): the nucleus keeps the prefix with cumsum <= p
// plus the first entry past p, always the top-1, only among the top-k; votes >= θ are golden,
// sorted by votes descending.

#include "runtime/lsa/labels/golden_set.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace fm::rt::labels {
namespace {

using Chunks = std::vector<int32_t>;
using Golden = std::vector<GoldenChunk>;

// Logits whose softmax over all of them is exactly `probs` (log of each).
std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::vector<int32_t> Nucleus(const std::vector<float>& logits, int32_t k, float p) {
  auto r = NucleusChunks(logits, k, p);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<int32_t>{};
}

TEST(NucleusChunksTest, PrefixUpToAndIncludingTheFirstEntryPastP) {
  // Sorted: chunk 2 (0.4), chunk 0 (0.3), chunk 3 (0.2), chunk 1 (0.1). cumsum 0.4, 0.7, ...:
  // 0.4 <= 0.6 kept, 0.7 is the first past 0.6 and kept, the rest dropped.
  const std::vector<float> l = LogitsOf({0.3, 0.1, 0.4, 0.2});
  EXPECT_EQ(Nucleus(l, 512, 0.6f), (Chunks{2, 0}));
  // p = 0.75: 0.4, 0.7 <= p, 0.9 crosses.
  EXPECT_EQ(Nucleus(l, 512, 0.75f), (Chunks{2, 0, 3}));
  // p = 1: everything.
  EXPECT_EQ(Nucleus(l, 512, 1.0f), (Chunks{2, 0, 3, 1}));
}

TEST(NucleusChunksTest, TopOneAloneWhenItReachesP) {
  const std::vector<float> l = LogitsOf({0.05, 0.8, 0.1, 0.05});
  EXPECT_EQ(Nucleus(l, 512, 0.6f), (Chunks{1}));
  // Top-1 mass exactly p is still <= p, so the next entry is the one that crosses.
  const std::vector<float> half = {0.0f, 0.0f};  // 0.5 each
  EXPECT_EQ(Nucleus(half, 512, 0.5f), (Chunks{0, 1}));
}

TEST(NucleusChunksTest, SoftmaxIsOverTheTopKOnly) {
  // Over the top-2 only, chunk 0 holds 4/7 = 0.571 > 0.5: it alone is the nucleus. Over all four
  // it holds 0.4 <= 0.5 and chunk 1 is the entry that crosses.
  const std::vector<float> l = LogitsOf({0.4, 0.3, 0.2, 0.1});
  EXPECT_EQ(Nucleus(l, 2, 0.5f), (Chunks{0}));
  EXPECT_EQ(Nucleus(l, 4, 0.5f), (Chunks{0, 1}));
  EXPECT_EQ(Nucleus(l, 2, 0.6f), (Chunks{0, 1}));
  EXPECT_EQ(Nucleus(l, 1, 0.6f), (Chunks{0}));
  // k larger than n_blk: k = n_blk.
  EXPECT_EQ(Nucleus(l, 512, 0.95f), (Chunks{0, 1, 2, 3}));
}

TEST(NucleusChunksTest, TiesGoToTheLowerChunkAndMaskedChunksNeverCount) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const std::vector<float> l = {1.0f, 2.0f, 2.0f, 2.0f, ninf};
  // Three tied tops, 1/3 each within the top-3, ordered by chunk; the -inf chunk never counts.
  EXPECT_EQ(Nucleus(l, 3, 0.3f), (Chunks{1}));
  EXPECT_EQ(Nucleus(l, 3, 0.5f), (Chunks{1, 2}));
  EXPECT_EQ(Nucleus(l, 512, 1.0f), (Chunks{1, 2, 3, 0}));
  // Only -inf entries: nothing to pick.
  EXPECT_TRUE(Nucleus({ninf, ninf}, 512, 0.6f).empty());
  EXPECT_TRUE(Nucleus({}, 512, 0.6f).empty());
}

TEST(NucleusChunksTest, RejectsNanAndBadConstants) {
  EXPECT_FALSE(NucleusChunks(std::vector<float>{0.0f, std::nanf("")}, 4, 0.6f).ok());
  EXPECT_FALSE(NucleusChunks(std::vector<float>{0.0f}, 0, 0.6f).ok());
  EXPECT_FALSE(NucleusChunks(std::vector<float>{0.0f}, 4, 0.0f).ok());
  EXPECT_FALSE(NucleusChunks(std::vector<float>{0.0f}, 4, 1.5f).ok());
  EXPECT_FALSE(ValidateLabelConstants({512, 0.6f, 0}).ok());
}

TEST(GoldenSetTest, VotesAtLeastThetaSortedByVotesThenChunk) {
  // Four layers over 6 chunks; p = 0.6 with one dominant chunk per layer (nucleus of 1) or a pair.
  const std::vector<float> a = LogitsOf({0.7, 0.1, 0.1, 0.05, 0.03, 0.02});   // {0}
  const std::vector<float> b = LogitsOf({0.5, 0.05, 0.3, 0.05, 0.05, 0.05});  // {0, 2}
  const std::vector<float> c = LogitsOf({0.05, 0.05, 0.5, 0.3, 0.05, 0.05});  // {2, 3}
  const std::vector<float> d = LogitsOf({0.5, 0.05, 0.05, 0.3, 0.05, 0.05});  // {0, 3}
  const std::vector<absl::Span<const float>> rows = {a, b, c, d};
  auto g = GoldenSet(rows, {512, 0.6f, 2});
  ASSERT_TRUE(g.ok()) << g.status();
  // votes: 0 -> 3, 2 -> 2, 3 -> 2.
  EXPECT_EQ(*g, (Golden{GoldenChunk{0, 3}, GoldenChunk{2, 2}, GoldenChunk{3, 2}}));
  auto g3 = GoldenSet(rows, {512, 0.6f, 3});
  ASSERT_TRUE(g3.ok());
  EXPECT_EQ(*g3, (Golden{GoldenChunk{0, 3}}));
  // θ above the number of layers: nothing can be golden.
  auto g5 = GoldenSet(rows, {512, 0.6f, 5});
  ASSERT_TRUE(g5.ok());
  EXPECT_TRUE(g5->empty());
  // k = 1: only each layer's argmax votes.
  auto k1 = GoldenSet(rows, {1, 0.6f, 1});
  ASSERT_TRUE(k1.ok());
  EXPECT_EQ(*k1, (Golden{GoldenChunk{0, 3}, GoldenChunk{2, 1}}));
}

TEST(GoldenSetTest, VoterIsReusableAndChecksRowLengths) {
  GoldenVoter voter({512, 0.6f, 1});
  voter.Reset(3);
  ASSERT_TRUE(voter.AddLayer(std::vector<float>{0.0f, 5.0f, 0.0f}).ok());
  EXPECT_EQ(voter.Golden(), (Golden{GoldenChunk{1, 1}}));
  EXPECT_FALSE(voter.AddLayer(std::vector<float>{0.0f, 5.0f}).ok());
  voter.Reset(2);  // previous votes are gone
  EXPECT_TRUE(voter.Golden().empty());
  ASSERT_TRUE(voter.AddLayer(std::vector<float>{5.0f, 0.0f}).ok());
  EXPECT_EQ(voter.Golden(), (Golden{GoldenChunk{0, 1}}));
  EXPECT_EQ(voter.layers_added(), 1);
  // No chunk yet (n_blk = 0, the first decode tokens of a short prompt): empty golden set.
  voter.Reset(0);
  ASSERT_TRUE(voter.AddLayer({}).ok());
  EXPECT_TRUE(voter.Golden().empty());
}

}  // namespace
}  // namespace fm::rt::labels
