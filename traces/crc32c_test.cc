#include "traces/crc32c.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fm::traces {
namespace {

// Bit-at-a-time reference, independent of the table construction.
uint32_t SlowCrc32c(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  const std::string s = "123456789";
  EXPECT_EQ(Crc32c(0, s.data(), s.size()), 0xE3069283u);
}

TEST(Crc32cTest, MatchesRfc3720TestVectors) {
  std::vector<uint8_t> zeros(32, 0);
  std::vector<uint8_t> ones(32, 0xFF);
  std::vector<uint8_t> inc(32);
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(0, zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(0, ones.data(), ones.size()), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(0, inc.data(), inc.size()), 0x46DD794Eu);
}

TEST(Crc32cTest, SlicedLoopAgreesWithBitwiseReferenceAtEveryLengthAndAlignment) {
  std::vector<uint8_t> buf(300);
  uint32_t x = 12345;
  for (auto& b : buf) b = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 16);
  for (size_t off = 0; off < 8; ++off) {
    for (size_t n = 0; n + off <= buf.size(); n += 7) {
      ASSERT_EQ(Crc32c(0, buf.data() + off, n), SlowCrc32c(buf.data() + off, n)) << off << " " << n;
    }
  }
}

TEST(Crc32cTest, ExtendingInPiecesEqualsOneShot) {
  const std::string s = "the quick brown fox jumps over the lazy dog";
  uint32_t whole = Crc32c(0, s.data(), s.size());
  uint32_t part = Crc32c(0, s.data(), 10);
  part = Crc32c(part, s.data() + 10, s.size() - 10);
  EXPECT_EQ(part, whole);
}

}  // namespace
}  // namespace fm::traces
