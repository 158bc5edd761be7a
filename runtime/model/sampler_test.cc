// Sampler: greedy argmax, seeded reproducibility, nucleus truncation, frequencies that follow the
// softmax, and option validation.

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/model/sampler.h"

namespace fm::rt {
namespace {

TEST(SamplerTest, GreedyPicksArgmaxAndLowestIdOnTies) {
  auto s = Sampler::Create({});
  ASSERT_TRUE(s.ok());
  const std::vector<float> logits = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(*s->Sample(logits), 1);
}

TEST(SamplerTest, SameSeedSameTokensDifferentSeedDifferentTokens) {
  const std::vector<float> logits = {0.0f, 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f};
  auto run = [&](uint64_t seed) {
    auto s = Sampler::Create({1.0, 1.0, seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) out.push_back(*s->Sample(logits));
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(SamplerTest, TinyTopPKeepsOnlyTheMostLikelyToken) {
  auto s = Sampler::Create({2.0, 1e-6, 3});
  const std::vector<float> logits = {0.0f, 0.5f, 0.4f};
  for (int i = 0; i < 50; ++i) EXPECT_EQ(*s->Sample(logits), 1);
}

TEST(SamplerTest, FrequenciesFollowTheTemperedSoftmax) {
  auto s = Sampler::Create({0.5, 1.0, 11});
  const std::vector<float> logits = {0.0f, std::log(2.0f) * 0.5f, std::log(3.0f) * 0.5f};
  // At T = 0.5 the probabilities are 1:2:3.
  std::vector<int> count(3, 0);
  const int n = 30000;
  for (int i = 0; i < n; ++i) ++count[static_cast<size_t>(*s->Sample(logits))];
  EXPECT_NEAR(count[0] / static_cast<double>(n), 1.0 / 6, 0.015);
  EXPECT_NEAR(count[1] / static_cast<double>(n), 2.0 / 6, 0.015);
  EXPECT_NEAR(count[2] / static_cast<double>(n), 3.0 / 6, 0.015);
}

TEST(SamplerTest, TopPDropsTheTail) {
  // Probabilities 0.5, 0.3, 0.2: top_p 0.7 keeps the first two only.
  auto s = Sampler::Create({1.0, 0.7, 13});
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  for (int i = 0; i < 2000; ++i) EXPECT_NE(*s->Sample(logits), 2);
}

TEST(SamplerTest, RejectsBadOptionsAndEmptyLogits) {
  EXPECT_EQ(Sampler::Create({-1.0, 1.0, 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sampler::Create({NAN, 1.0, 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sampler::Create({1.0, 0.0, 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Sampler::Create({1.0, 1.5, 0}).status().code(), absl::StatusCode::kInvalidArgument);
  auto s = Sampler::Create({});
  EXPECT_EQ(s->Sample({}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fm::rt
