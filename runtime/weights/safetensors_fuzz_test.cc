// Deterministic mutation fuzzing of the safetensors reader: a valid tiny checkpoint file is
// truncated, bit-flipped, digit-edited and given bogus header lengths. Every case must return a
// Status (never crash or read out of bounds: each image lives in an exact-size heap buffer, so
// ASan builds catch over-reads), an OK result must only reference bytes inside the file, and an
// error must be DataLoss/Unimplemented naming the file.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/little_endian.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/safetensors_file.h"
#include "runtime/weights/synth.h"
#include "runtime/weights/test_util.h"

namespace fm::rt {
namespace {

using testing::ReadBytes;
using testing::ScratchDir;
using testing::WriteBytes;

class Lcg {
 public:
  explicit Lcg(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    s_ = s_ * 6364136223846793005ull + 1442695040888963407ull;
    return s_ >> 17;
  }
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t s_;
};

class SafetensorsFuzzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteSynthCheckpoint(SynthOptions{}, dir_.path()).ok());
    valid_ = ReadBytes(dir_.path() / "model.safetensors");
    ASSERT_GT(valid_.size(), 1000u);
    header_end_ = 8 + LoadLE<uint64_t>(valid_.data());
    ASSERT_LT(header_end_, valid_.size());
  }

  // Parses `image` from an exact-size heap copy and checks the outcome's invariants.
  void Check(const std::string& image, const std::string& what) {
    ++cases_;
    std::vector<uint8_t> buf(image.begin(), image.end());
    const uint8_t* base = buf.empty() ? nullptr : buf.data();
    auto r = ParseSafetensors(base, static_cast<int64_t>(buf.size()), "model.safetensors");
    if (r.ok()) {
      ++accepted_;
      for (const TensorRef& t : r->tensors) {
        ASSERT_GE(t.data, base) << what << " " << t.name;
        ASSERT_LE(t.data + t.nbytes, base + buf.size()) << what << " " << t.name;
        ASSERT_EQ(t.nbytes, t.numel() * DTypeBytes(t.dtype)) << what << " " << t.name;
      }
    } else {
      const auto code = r.status().code();
      ASSERT_TRUE(code == absl::StatusCode::kDataLoss || code == absl::StatusCode::kUnimplemented)
          << what << ": " << r.status();
      ASSERT_NE(r.status().message().find("model.safetensors"), std::string::npos)
          << what << ": " << r.status();
    }
    // Every 8th case also goes through the file path (mmap + Checkpoint::Open).
    if (cases_ % 8 == 0) {
      WriteBytes(dir_.path() / "model.safetensors", image);
      auto ck = Checkpoint::Open(dir_.path());
      if (ck.ok()) {
        for (const std::string& name : (*ck)->TensorNames()) ASSERT_TRUE((*ck)->Get(name).ok());
      }
    }
  }

  ScratchDir dir_{"st_fuzz"};
  std::string valid_;
  size_t header_end_ = 0;
  int cases_ = 0;
  int accepted_ = 0;
};

TEST_F(SafetensorsFuzzTest, MutatedFilesNeverCrashTheReader) {
  Lcg rng(20261124);
  Check(valid_, "valid");
  ASSERT_EQ(accepted_, 1);

  // Truncations: every length up to 64, then 250 spread over header and data.
  for (size_t len = 0; len <= 64; ++len) Check(valid_.substr(0, len), "truncate");
  for (int i = 0; i < 150; ++i) {
    Check(valid_.substr(0, rng.Below(header_end_ + 16)), "truncate header");
  }
  for (int i = 0; i < 100; ++i) Check(valid_.substr(0, rng.Below(valid_.size())), "truncate data");

  // Random byte changes inside the header (1 to 4 bytes each).
  for (int i = 0; i < 250; ++i) {
    std::string m = valid_;
    const int flips = 1 + static_cast<int>(rng.Below(4));
    for (int f = 0; f < flips; ++f) {
      const size_t at = rng.Below(header_end_);
      m[at] = static_cast<char>(rng.Next() & 0xff);
    }
    Check(m, "flip");
  }

  // Digit edits: shapes and offsets change but the JSON stays well-formed.
  std::vector<size_t> digits;
  for (size_t i = 8; i < header_end_; ++i) {
    if (valid_[i] >= '0' && valid_[i] <= '9') digits.push_back(i);
  }
  ASSERT_FALSE(digits.empty());
  for (int i = 0; i < 150; ++i) {
    std::string m = valid_;
    m[digits[rng.Below(digits.size())]] = static_cast<char>('0' + rng.Below(10));
    if (rng.Below(2)) m[digits[rng.Below(digits.size())]] = '9';
    Check(m, "digit");
  }

  // Bogus header lengths.
  const uint64_t lengths[] = {0,
                              1,
                              2,
                              header_end_ - 9,
                              header_end_ - 7,
                              valid_.size() - 8,
                              valid_.size() - 7,
                              valid_.size(),
                              uint64_t{1} << 60,
                              uint64_t{1} << 63,
                              UINT64_MAX,
                              (uint64_t{100} << 20) + 1};
  for (uint64_t len : lengths) {
    std::string m = valid_;
    StoreLE<uint64_t>(m.data(), len);
    Check(m, "length");
  }

  EXPECT_GE(cases_, 500);
  // Some digit edits (e.g. in a data offset already overlapped-safe) and the original are accepted;
  // most mutations must be rejected.
  EXPECT_LT(accepted_, cases_ / 2);
}

}  // namespace
}  // namespace fm::rt
