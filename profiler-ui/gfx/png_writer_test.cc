#include "profiler-ui/gfx/png_writer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace fm::ui {
namespace {

TEST(PngWriterTest, ChecksumsMatchKnownVectors) {
  const std::string s = "123456789";
  std::span<const uint8_t> b(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  EXPECT_EQ(Crc32(b), 0xCBF43926u);
  const std::string w = "Wikipedia";
  EXPECT_EQ(Adler32(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(w.data()), w.size())),
            0x11E60398u);
}

class PngRoundTripTest : public ::testing::TestWithParam<bool> {};

TEST_P(PngRoundTripTest, RoundTripsAnImageLargerThanOneStoredBlock) {
  RgbaImage img;
  img.width = 300;
  img.height = 200;  // 240 KiB of pixels: four stored blocks
  img.rgba.resize(300 * 200 * 4);
  for (size_t i = 0; i < img.rgba.size(); ++i) img.rgba[i] = static_cast<uint8_t>(i * 31 + i / 7);
  absl::StatusOr<std::vector<uint8_t>> png = EncodePng(img, GetParam());
  ASSERT_TRUE(png.ok()) << png.status();
  absl::StatusOr<RgbaImage> back = DecodePng(*png);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->width, 300);
  EXPECT_EQ(back->height, 200);
  EXPECT_EQ(back->rgba, img.rgba);
  EXPECT_EQ(back->At(1, 0), img.At(1, 0));
  EXPECT_EQ(img.At(300, 0), 0u);
}
INSTANTIATE_TEST_SUITE_P(StoredAndCompressed, PngRoundTripTest, ::testing::Bool());

TEST(PngWriterTest, FlatUiLikeImagesCompressWell) {
  RgbaImage img;
  img.width = 640;
  img.height = 480;
  img.rgba.resize(640 * 480 * 4);
  for (int y = 0; y < 480; ++y) {
    for (int x = 0; x < 640; ++x) {
      const uint32_t c = x < 320 ? 0xFF2C60E8u : (y % 40 < 2 ? 0xFFFFFFFFu : 0xFF3E2C26u);
      std::memcpy(&img.rgba[(static_cast<size_t>(y) * 640 + x) * 4], &c, 4);
    }
  }
  const std::vector<uint8_t> png = *EncodePng(img);
  EXPECT_LT(png.size(), img.rgba.size() / 20);
  EXPECT_EQ(DecodePng(png)->rgba, img.rgba);
}

TEST(PngWriterTest, RejectsAMismatchedBufferAndDamagedFiles) {
  RgbaImage bad;
  bad.width = 2;
  bad.height = 2;
  bad.rgba.resize(15);
  EXPECT_EQ(EncodePng(bad).status().code(), absl::StatusCode::kInvalidArgument);

  RgbaImage img;
  img.width = 2;
  img.height = 1;
  img.rgba = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<uint8_t> png = *EncodePng(img);
  std::vector<uint8_t> flipped = png;
  flipped[png.size() / 2] ^= 0x40;
  EXPECT_EQ(DecodePng(flipped).status().code(), absl::StatusCode::kDataLoss);
  std::vector<uint8_t> cut(png.begin(), png.begin() + 20);
  EXPECT_EQ(DecodePng(cut).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodePng({}).status().code(), absl::StatusCode::kDataLoss);
}

TEST(PngWriterTest, WritesAFileThatReadsBack) {
  RgbaImage img;
  img.width = 3;
  img.height = 3;
  img.rgba.assign(36, 200);
  const std::string path = ::testing::TempDir() + "/png_writer_test.png";
  ASSERT_TRUE(WritePng(img, path).ok());
  absl::StatusOr<RgbaImage> back = ReadPng(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->rgba, img.rgba);
  std::remove(path.c_str());
  EXPECT_EQ(WritePng(img, "/nonexistent-dir/x.png").code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fm::ui
