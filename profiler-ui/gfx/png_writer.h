#pragma once
// A minimal PNG codec (8-bit RGBA, no interlace, filter 0) with our own deflate (deflate.h), so
// the screenshot path needs neither zlib nor stb. The reader accepts what the writer produces
// (stored or fixed-Huffman blocks), which is what the screenshot tests need to probe pixels.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fm::ui {

struct RgbaImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgba;  // width * height * 4, top row first
  // Pixel (x, y) as 0xAABBGGRR (IM_COL32 layout); 0 when out of range.
  uint32_t At(int x, int y) const;
};

uint32_t Crc32(std::span<const uint8_t> bytes, uint32_t crc = 0);
uint32_t Adler32(std::span<const uint8_t> bytes);

// Encodes `image` (rgba.size() must equal width * height * 4; InvalidArgument otherwise).
// `compress` false writes stored (uncompressed) deflate blocks.
absl::StatusOr<std::vector<uint8_t>> EncodePng(const RgbaImage& image, bool compress = true);
// Encodes and writes to `path` (Unavailable naming the path when it cannot be written).
absl::Status WritePng(const RgbaImage& image, const std::string& path);

// Decodes an 8-bit RGBA, filter-0 PNG whose deflate stream has stored or fixed-Huffman blocks.
// DataLoss naming the byte offset and field for anything else.
absl::StatusOr<RgbaImage> DecodePng(std::span<const uint8_t> bytes);
absl::StatusOr<RgbaImage> ReadPng(const std::string& path);

}  // namespace fm::ui
