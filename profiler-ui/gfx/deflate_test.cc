#include "profiler-ui/gfx/deflate.h"

#include <gtest/gtest.h>

#include <random>

namespace fm::ui {
namespace {

std::vector<uint8_t> RoundTrip(const std::vector<uint8_t>& in) {
  const std::vector<uint8_t> z = DeflateFixed(in);
  size_t used = 0;
  absl::StatusOr<std::vector<uint8_t>> out = Inflate(z, in.size(), &used);
  EXPECT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(used, z.size());
  return out.ok() ? *out : std::vector<uint8_t>{};
}

TEST(DeflateTest, RoundTripsRandomRepetitiveAndEmptyData) {
  std::mt19937 rng(11);
  SCOPED_TRACE("seed 11");
  std::vector<uint8_t> random(100000);
  for (uint8_t& b : random) b = static_cast<uint8_t>(rng());
  EXPECT_EQ(RoundTrip(random), random);
  std::vector<uint8_t> runs;
  for (int i = 0; i < 200000; ++i) runs.push_back(static_cast<uint8_t>((i / 1000) % 3 == 0 ? i % 4 : 7));
  EXPECT_EQ(RoundTrip(runs), runs);
  EXPECT_LT(DeflateFixed(runs).size(), runs.size() / 50);
  EXPECT_EQ(RoundTrip({}), std::vector<uint8_t>{});
  const std::vector<uint8_t> one = {42};
  EXPECT_EQ(RoundTrip(one), one);
}

TEST(DeflateTest, LongMatchesAtEveryLengthAndDistanceDecode) {
  std::vector<uint8_t> in;
  std::mt19937 rng(5);
  for (int len = 3; len <= 258; len += 17) {
    const size_t dist = 1 + rng() % 30000;
    for (size_t k = 0; k < dist; ++k) in.push_back(static_cast<uint8_t>(rng()));
    const size_t from = in.size() - dist;
    for (int k = 0; k < len; ++k) in.push_back(in[from + static_cast<size_t>(k)]);
  }
  EXPECT_EQ(RoundTrip(in), in);
}

TEST(DeflateTest, DamagedOrOversizedStreamsAreDataLoss) {
  std::vector<uint8_t> in(5000, 9);
  std::vector<uint8_t> z = DeflateFixed(in);
  EXPECT_EQ(Inflate(z, 100).status().code(), absl::StatusCode::kDataLoss) << "output bound";
  std::vector<uint8_t> cut(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(z.size() / 2));
  EXPECT_EQ(Inflate(cut, in.size()).status().code(), absl::StatusCode::kDataLoss);
  const std::vector<uint8_t> dynamic = {0x05};  // BFINAL=1, BTYPE=10
  EXPECT_EQ(Inflate(dynamic, 10).status().code(), absl::StatusCode::kDataLoss);
  // A stored block shorter than its LEN.
  const std::vector<uint8_t> stored_bad = {0x01, 0x02, 0x00, 0xFD, 0xFF, 'a'};  // LEN 2, only 1 byte
  EXPECT_EQ(Inflate(stored_bad, 10).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace fm::ui
