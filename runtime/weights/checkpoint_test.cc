#include "runtime/weights/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/little_endian.h"
#include "kernels/cpu/linear.h"
#include "kernels/numeric_formats.h"
#include "runtime/weights/safetensors_writer.h"
#include "runtime/weights/synth.h"
#include "runtime/weights/test_util.h"

namespace fm::rt {
namespace {

using testing::ScratchDir;
using testing::WriteBytes;

// A checkpoint directory holding the tiny config and whatever tensors a test adds.
class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = SynthConfig(SynthOptions{});
    ASSERT_TRUE(config.ok()) << config.status();
    WriteBytes(dir_.path() / "config.json", ModelConfigToJson(*config));
  }
  absl::StatusOr<std::unique_ptr<Checkpoint>> WriteAndOpen(const SafetensorsWriter& w,
                                                           int64_t shards = 1) {
    if (absl::Status s = w.WriteCheckpoint(dir_.path(), shards); !s.ok()) return s;
    return Checkpoint::Open(dir_.path());
  }
  static std::vector<uint8_t> Bytes(int64_t n, uint32_t seed) {
    std::vector<uint8_t> v(static_cast<size_t>(n));
    for (auto& b : v) {
      seed = seed * 1664525u + 1013904223u;
      b = static_cast<uint8_t>(seed >> 24);
    }
    return v;
  }
  static std::vector<uint8_t> Floats(const std::vector<float>& f) {
    std::vector<uint8_t> v(f.size() * 4);
    std::memcpy(v.data(), f.data(), v.size());
    return v;
  }

  ScratchDir dir_{"ckpt"};
};

TEST_F(CheckpointTest, GetCheckedReportsShapeAndDtypeWithFileAndTensor) {
  SafetensorsWriter w;
  w.Add("layers.3.attn.wq_a.weight", DType::kBF16, {4, 8}, Bytes(64, 1));
  auto ck = WriteAndOpen(w);
  ASSERT_TRUE(ck.ok()) << ck.status();
  auto ok = (*ck)->GetChecked("layers.3.attn.wq_a.weight", {4, 8}, {DType::kBF16});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->nbytes, 64);

  auto shape = (*ck)->GetChecked("layers.3.attn.wq_a.weight", {2, 8}, {DType::kBF16});
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(shape.status().message(),
            "model.safetensors: tensor 'layers.3.attn.wq_a.weight': shape [4,8], expected [2,8]");

  auto dtype = (*ck)->GetChecked("layers.3.attn.wq_a.weight", {4, 8}, {DType::kF32, DType::kF16});
  EXPECT_EQ(dtype.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(dtype.status().message().find("dtype BF16, expected F32 or F16"), std::string::npos)
      << dtype.status();

  auto missing = (*ck)->Get("layers.3.attn.wq_b.weight");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("layers.3.attn.wq_b.weight"), std::string::npos);
  EXPECT_TRUE((*ck)->Has("layers.3.attn.wq_a.weight"));
  EXPECT_FALSE((*ck)->Has("layers.3.attn.wq_b.weight"));
}

TEST_F(CheckpointTest, GetWeightDequantisesFp8BlocksLikeTheFormula) {
  const int64_t rows = 200, cols = 300;  // partial 128-blocks on both axes
  std::vector<uint8_t> w = Bytes(rows * cols, 7);
  for (auto& b : w) {
    if ((b & 0x7f) == 0x7f) b ^= 1;  // no NaN codes
  }
  const std::vector<uint8_t> s = {120, 127, 130, 125, 127, 129};  // [2, 3]
  SafetensorsWriter wr;
  wr.Add("x.weight", DType::kF8E4M3, {rows, cols}, w);
  wr.Add("x.scale", DType::kF8E8M0, {2, 3}, s);
  auto ck = WriteAndOpen(wr);
  ASSERT_TRUE(ck.ok()) << ck.status();
  auto view = (*ck)->GetWeight("x.weight", rows, cols);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->format, kernels::WeightFormat::kFP8Block128);
  EXPECT_EQ(view->scale_cols, 3);
  std::vector<float> row(cols);
  for (int64_t r : {0L, 127L, 128L, 199L}) {
    kernels::cpu::DequantRow(*view, r, row.data());
    for (int64_t c = 0; c < cols; ++c) {
      const float want = kernels::E4m3ToFloat(w[r * cols + c]) *
                         std::ldexp(1.0f, s[(r / 128) * 3 + c / 128] - 127);
      ASSERT_EQ(row[c], want) << r << "," << c;
    }
  }
}

TEST_F(CheckpointTest, GetWeightDequantisesMxfp4LikeTheFormula) {
  const int64_t rows = 5, cols = 64;
  const std::vector<uint8_t> w = Bytes(rows * cols / 2, 9);
  const std::vector<uint8_t> s = Bytes(rows * cols / 32, 3);
  std::vector<uint8_t> scale = s;
  for (auto& b : scale) b = static_cast<uint8_t>(110 + b % 30);
  SafetensorsWriter wr;
  wr.Add("layers.0.ffn.experts.1.w2.weight", DType::kI8, {rows, cols / 2}, w);
  wr.Add("layers.0.ffn.experts.1.w2.scale", DType::kF8E8M0, {rows, cols / 32}, scale);
  auto ck = WriteAndOpen(wr);
  ASSERT_TRUE(ck.ok()) << ck.status();
  auto view = (*ck)->GetWeight("layers.0.ffn.experts.1.w2.weight", rows, cols);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->format, kernels::WeightFormat::kMXFP4);
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    kernels::cpu::DequantRow(*view, r, row.data());
    for (int64_t c = 0; c < cols; ++c) {
      const uint8_t byte = w[r * cols / 2 + c / 2];
      const uint8_t code = (c % 2 == 0) ? (byte & 0xf) : (byte >> 4);
      static const float kMag[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
      const float v = ((code & 8) ? -1.0f : 1.0f) * kMag[code & 7];
      ASSERT_EQ(row[c], v * std::ldexp(1.0f, scale[r * 2 + c / 32] - 127)) << r << "," << c;
    }
  }
}

TEST_F(CheckpointTest, GetWeightChecksShapesOfWeightAndScale) {
  SafetensorsWriter wr;
  wr.Add("a.weight", DType::kF8E4M3, {130, 10}, Bytes(1300, 1));
  wr.Add("a.scale", DType::kF8E8M0, {1, 1}, {127});          // expected [2, 1]
  wr.Add("b.weight", DType::kF8E4M3, {4, 4}, Bytes(16, 1));  // no scale
  wr.Add("c.weight", DType::kI8, {4, 32}, Bytes(128, 1));
  wr.Add("c.scale", DType::kF8E8M0, {4, 1}, Bytes(4, 1));  // expected [4, 2]
  wr.Add("d.weight", DType::kBF16, {4, 4}, Bytes(32, 1));
  wr.Add("e.weight", DType::kI64, {2, 2}, Bytes(32, 1));
  wr.Add("f.weight", DType::kF8E4M3, {4, 4}, Bytes(16, 1));
  wr.Add("f.scale", DType::kF32, {1, 1}, Bytes(4, 1));
  auto ck = WriteAndOpen(wr);
  ASSERT_TRUE(ck.ok()) << ck.status();

  auto a = (*ck)->GetWeight("a.weight", 130, 10);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().message().find("tensor 'a.scale': shape [1,1], expected [2,1]"),
            std::string::npos)
      << a.status();
  EXPECT_NE(a.status().message().find("'a.weight'"), std::string::npos) << a.status();

  auto b = (*ck)->GetWeight("b.weight", 4, 4);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(b.status().message().find("'b.scale'"), std::string::npos) << b.status();

  auto c = (*ck)->GetWeight("c.weight", 4, 64);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("tensor 'c.scale': shape [4,1], expected [4,2]"),
            std::string::npos)
      << c.status();

  auto c_wrong_cols = (*ck)->GetWeight("c.weight", 4, 32);
  EXPECT_EQ(c_wrong_cols.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c_wrong_cols.status().message().find("shape [4,32], expected [4,16]"),
            std::string::npos)
      << c_wrong_cols.status();

  auto d = (*ck)->GetWeight("d.weight", 4, 4);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->format, kernels::WeightFormat::kBF16);
  EXPECT_EQ((*ck)->GetWeight("d.weight", 4, 5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*ck)->GetWeight("e.weight", 2, 2).status().code(), absl::StatusCode::kInvalidArgument);
  auto f = (*ck)->GetWeight("f.weight", 4, 4);
  EXPECT_NE(f.status().message().find("dtype F32, expected F8_E8M0"), std::string::npos)
      << f.status();
  EXPECT_EQ((*ck)->GetWeight("zzz.weight", 4, 4).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CheckpointTest, GetFloatsConvertsF32Bf16AndF16) {
  SafetensorsWriter wr;
  wr.Add("f32", DType::kF32, {3}, Floats({1.5f, -2.0f, 0.25f}));
  wr.Add("bf16", DType::kBF16, {2}, {0x80, 0x3f, 0x00, 0xc0});  // 1.0, -2.0
  wr.Add("f16", DType::kF16, {1}, {0x00, 0x3c});                // 1.0
  auto ck = WriteAndOpen(wr);
  ASSERT_TRUE(ck.ok()) << ck.status();
  EXPECT_EQ(*(*ck)->GetFloats("f32", {3}), (std::vector<float>{1.5f, -2.0f, 0.25f}));
  EXPECT_EQ(*(*ck)->GetFloats("bf16", {2}), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(*(*ck)->GetFloats("f16", {1}), (std::vector<float>{1.0f}));
  EXPECT_EQ((*ck)->GetFloats("f32", {1, 3}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CheckpointTest, GetIndexTableBoundsChecksEveryEntry) {
  std::vector<uint8_t> i64(6 * 8), i32(4 * 4);
  const int64_t vals[] = {0, 1, 2, 3, 7, 5};
  for (int k = 0; k < 6; ++k) StoreLE<int64_t>(i64.data() + 8 * k, vals[k]);
  const int32_t vals32[] = {3, 2, 1, 0};
  for (int k = 0; k < 4; ++k) StoreLE<int32_t>(i32.data() + 4 * k, vals32[k]);
  SafetensorsWriter wr;
  wr.Add("t64", DType::kI64, {3, 2}, i64);
  wr.Add("t32", DType::kI32, {2, 2}, i32);
  auto ck = WriteAndOpen(wr);
  ASSERT_TRUE(ck.ok()) << ck.status();
  auto t = (*ck)->GetIndexTable("t64", {3, 2}, 8);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, (std::vector<int32_t>{0, 1, 2, 3, 7, 5}));
  auto bad = (*ck)->GetIndexTable("t64", {3, 2}, 7);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("entry 4 = 7"), std::string::npos) << bad.status();
  EXPECT_EQ(*(*ck)->GetIndexTable("t32", {2, 2}, 4), (std::vector<int32_t>{3, 2, 1, 0}));
}

TEST_F(CheckpointTest, ShardedCheckpointOpensEveryShardAndFindsEveryTensor) {
  SafetensorsWriter wr;
  for (int i = 0; i < 20; ++i) {
    wr.Add(absl::StrCat("t", i), DType::kU8, {100 + i}, Bytes(100 + i, i));
  }
  ASSERT_TRUE(wr.WriteCheckpoint(dir_.path(), 4).ok());
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "model-00004-of-00004.safetensors"));
  auto ck = Checkpoint::Open(dir_.path());
  ASSERT_TRUE(ck.ok()) << ck.status();
  EXPECT_EQ((*ck)->TensorNames().size(), 20u);
  std::set<std::string> files;
  for (int i = 0; i < 20; ++i) {
    auto t = (*ck)->Get(absl::StrCat("t", i));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(std::memcmp(t->data, Bytes(100 + i, i).data(), 100 + i), 0);
    files.insert(t->file);
  }
  EXPECT_EQ(files.size(), 4u);
}

TEST_F(CheckpointTest, IndexPointingToAMissingShardIsNotFound) {
  SafetensorsWriter wr;
  wr.Add("a", DType::kU8, {4}, Bytes(4, 1));
  wr.Add("b", DType::kU8, {4}, Bytes(4, 2));
  ASSERT_TRUE(wr.WriteCheckpoint(dir_.path(), 2).ok());
  std::filesystem::remove(dir_.path() / "model-00002-of-00002.safetensors");
  auto ck = Checkpoint::Open(dir_.path());
  EXPECT_EQ(ck.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(ck.status().message().find("model-00002-of-00002.safetensors"), std::string::npos)
      << ck.status();
}

TEST_F(CheckpointTest, TensorListedInIndexButAbsentFromItsShardIsAnError) {
  SafetensorsWriter wr;
  wr.Add("a", DType::kU8, {4}, Bytes(4, 1));
  ASSERT_TRUE(wr.WriteFile(dir_.path() / "s1.safetensors").ok());
  WriteBytes(dir_.path() / "model.safetensors.index.json",
             R"({"weight_map": {"a": "s1.safetensors", "ghost": "s1.safetensors"}})");
  auto ck = Checkpoint::Open(dir_.path());
  EXPECT_EQ(ck.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(ck.status().message().find("'ghost'"), std::string::npos) << ck.status();
}

TEST_F(CheckpointTest, ShardNamesMayNotEscapeTheDirectory) {
  for (const char* bad : {"../x.safetensors", "/etc/passwd", "a/../../b"}) {
    WriteBytes(dir_.path() / "model.safetensors.index.json",
               std::string(R"({"weight_map": {"a": ")") + bad + "\"}}");
    auto ck = Checkpoint::Open(dir_.path());
    EXPECT_EQ(ck.status().code(), absl::StatusCode::kDataLoss) << bad;
    EXPECT_NE(ck.status().message().find(bad), std::string::npos) << ck.status();
  }
  WriteBytes(dir_.path() / "model.safetensors.index.json", R"({"weight_map": [1]})");
  EXPECT_EQ(Checkpoint::Open(dir_.path()).status().code(), absl::StatusCode::kDataLoss);
  WriteBytes(dir_.path() / "model.safetensors.index.json", R"({"weight_map": )");
  EXPECT_EQ(Checkpoint::Open(dir_.path()).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(CheckpointTest, MissingWeightsOrConfigAreNotFound) {
  auto no_weights = Checkpoint::Open(dir_.path());
  EXPECT_EQ(no_weights.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(no_weights.status().message().find("model.safetensors"), std::string::npos);
  std::filesystem::remove(dir_.path() / "config.json");
  EXPECT_EQ(Checkpoint::Open(dir_.path()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Checkpoint::Open(dir_.path() / "nope").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CheckpointTest, BadConfigFailsOpenNamingTheKey) {
  WriteBytes(dir_.path() / "config.json", R"({"vocab_size": "many"})");
  SafetensorsWriter wr;
  auto ck = WriteAndOpen(wr);
  EXPECT_EQ(ck.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ck.status().message().find("vocab_size"), std::string::npos) << ck.status();
}

TEST_F(CheckpointTest, CorruptShardFailsOpenWithDataLoss) {
  WriteBytes(dir_.path() / "model.safetensors", std::string("\x10\0\0\0\0\0\0\0{}", 10));
  auto ck = Checkpoint::Open(dir_.path());
  EXPECT_EQ(ck.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(ck.status().message().find("model.safetensors"), std::string::npos) << ck.status();
}

}  // namespace
}  // namespace fm::rt
