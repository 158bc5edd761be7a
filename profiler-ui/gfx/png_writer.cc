#include "profiler-ui/gfx/png_writer.h"

#include <array>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_format.h"
#include "profiler-ui/gfx/deflate.h"

namespace fm::ui {
namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
// Largest payload of one stored deflate block (LEN is a u16).
constexpr size_t kStoredBlockBytes = 65535;

std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t n = 0; n < 256; ++n) {
    uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[n] = c;
  }
  return t;
}

void PutBe32(std::vector<uint8_t>* out, uint32_t v) {
  out->push_back(static_cast<uint8_t>(v >> 24));
  out->push_back(static_cast<uint8_t>(v >> 16));
  out->push_back(static_cast<uint8_t>(v >> 8));
  out->push_back(static_cast<uint8_t>(v));
}

uint32_t GetBe32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) | b[at + 3];
}

void PutChunk(std::vector<uint8_t>* out, const char type[4], std::span<const uint8_t> data) {
  PutBe32(out, static_cast<uint32_t>(data.size()));
  const size_t type_at = out->size();
  out->insert(out->end(), type, type + 4);
  out->insert(out->end(), data.begin(), data.end());
  PutBe32(out, Crc32(std::span<const uint8_t>(out->data() + type_at, 4 + data.size())));
}

}  // namespace

uint32_t RgbaImage::At(int x, int y) const {
  if (x < 0 || y < 0 || x >= width || y >= height) return 0;
  const size_t i = (static_cast<size_t>(y) * width + x) * 4;
  return uint32_t{rgba[i]} | (uint32_t{rgba[i + 1]} << 8) | (uint32_t{rgba[i + 2]} << 16) |
         (uint32_t{rgba[i + 3]} << 24);
}

uint32_t Crc32(std::span<const uint8_t> bytes, uint32_t crc) {
  static const std::array<uint32_t, 256> kTable = MakeCrcTable();
  uint32_t c = crc ^ 0xFFFFFFFFu;
  for (uint8_t b : bytes) c = kTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t Adler32(std::span<const uint8_t> bytes) {
  constexpr uint32_t kMod = 65521;
  uint32_t a = 1, b = 0;
  // 5552 is the longest run before b can overflow 32 bits (zlib's NMAX).
  for (size_t i = 0; i < bytes.size();) {
    const size_t end = std::min(bytes.size(), i + 5552);
    for (; i < end; ++i) {
      a += bytes[i];
      b += a;
    }
    a %= kMod;
    b %= kMod;
  }
  return (b << 16) | a;
}

absl::StatusOr<std::vector<uint8_t>> EncodePng(const RgbaImage& image, bool compress) {
  if (image.width <= 0 || image.height <= 0 ||
      image.rgba.size() != static_cast<size_t>(image.width) * image.height * 4) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "EncodePng: image %dx%d has %d bytes, expected width*height*4", image.width, image.height,
        image.rgba.size()));
  }
  const size_t row_bytes = static_cast<size_t>(image.width) * 4;
  std::vector<uint8_t> raw;  // filter byte 0 + row, per row
  raw.reserve((row_bytes + 1) * image.height);
  for (int y = 0; y < image.height; ++y) {
    raw.push_back(0);
    const uint8_t* row = image.rgba.data() + row_bytes * y;
    raw.insert(raw.end(), row, row + row_bytes);
  }
  std::vector<uint8_t> z = {0x78, 0x01};  // deflate, 32 KiB window, no dictionary
  if (compress) {
    const std::vector<uint8_t> body = DeflateFixed(raw);
    z.insert(z.end(), body.begin(), body.end());
  } else {
    for (size_t at = 0;; at += kStoredBlockBytes) {
      const size_t n = std::min(kStoredBlockBytes, raw.size() - at);
      const bool last = at + n >= raw.size();
      z.push_back(last ? 1 : 0);  // BFINAL, BTYPE=00 (stored)
      z.push_back(static_cast<uint8_t>(n));
      z.push_back(static_cast<uint8_t>(n >> 8));
      z.push_back(static_cast<uint8_t>(~n));
      z.push_back(static_cast<uint8_t>(~n >> 8));
      z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(at),
               raw.begin() + static_cast<std::ptrdiff_t>(at + n));
      if (last) break;
    }
  }
  PutBe32(&z, Adler32(raw));

  std::vector<uint8_t> png(kSignature, kSignature + 8);
  std::vector<uint8_t> ihdr;
  PutBe32(&ihdr, static_cast<uint32_t>(image.width));
  PutBe32(&ihdr, static_cast<uint32_t>(image.height));
  ihdr.insert(ihdr.end(), {8, 6, 0, 0, 0});  // 8-bit, RGBA, deflate, adaptive filters, no interlace
  PutChunk(&png, "IHDR", ihdr);
  PutChunk(&png, "IDAT", z);
  PutChunk(&png, "IEND", {});
  return png;
}

absl::Status WritePng(const RgbaImage& image, const std::string& path) {
  absl::StatusOr<std::vector<uint8_t>> png = EncodePng(image);
  if (!png.ok()) return png.status();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::UnavailableError(absl::StrFormat("%s: cannot open for writing", path));
  const size_t n = std::fwrite(png->data(), 1, png->size(), f);
  const bool closed = std::fclose(f) == 0;
  if (n != png->size() || !closed) {
    return absl::UnavailableError(absl::StrFormat("%s: short write (%d of %d bytes)", path, n, png->size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<RgbaImage> DecodePng(std::span<const uint8_t> b) {
  auto loss = [](size_t at, const char* what) {
    return absl::DataLossError(absl::StrFormat("PNG at byte %d: %s", at, what));
  };
  if (b.size() < 8 || std::memcmp(b.data(), kSignature, 8) != 0) return loss(0, "bad signature");
  RgbaImage img;
  std::vector<uint8_t> z;
  size_t at = 8;
  bool have_header = false;
  while (at + 12 <= b.size()) {
    const uint32_t len = GetBe32(b, at);
    if (len > b.size() - at - 12) return loss(at, "chunk length past end of file");
    const std::string type(reinterpret_cast<const char*>(b.data() + at + 4), 4);
    const std::span<const uint8_t> data = b.subspan(at + 8, len);
    if (Crc32(b.subspan(at + 4, len + 4)) != GetBe32(b, at + 8 + len)) return loss(at, "chunk CRC mismatch");
    if (type == "IHDR") {
      if (len != 13 || data[8] != 8 || data[9] != 6 || data[12] != 0) {
        return loss(at, "IHDR is not 8-bit RGBA non-interlaced");
      }
      img.width = static_cast<int>(GetBe32(data, 0));
      img.height = static_cast<int>(GetBe32(data, 4));
      if (img.width <= 0 || img.height <= 0 || img.width > 16384 || img.height > 16384) {
        return loss(at, "IHDR size out of range (1..16384)");
      }
      have_header = true;
    } else if (type == "IDAT") {
      z.insert(z.end(), data.begin(), data.end());
    } else if (type == "IEND") {
      break;
    }
    at += 12 + len;
  }
  if (!have_header) return loss(at, "no IHDR chunk");
  const size_t row_bytes = static_cast<size_t>(img.width) * 4;
  if (z.size() < 2 || (z[0] & 0x0F) != 8) return loss(0, "IDAT is not a zlib deflate stream");
  const size_t raw_bytes = (row_bytes + 1) * img.height;
  size_t used = 0;
  absl::StatusOr<std::vector<uint8_t>> inflated =
      Inflate(std::span<const uint8_t>(z).subspan(2), raw_bytes, &used);
  if (!inflated.ok()) return absl::DataLossError(absl::StrFormat("PNG IDAT: %s", inflated.status().message()));
  const std::vector<uint8_t>& raw = *inflated;
  const size_t p = 2 + used;
  if (raw.size() != raw_bytes) return loss(p, "image data size does not match IHDR");
  if (p + 4 > z.size() || GetBe32(z, p) != Adler32(raw)) return loss(p, "adler32 mismatch");
  img.rgba.resize(row_bytes * img.height);
  for (int y = 0; y < img.height; ++y) {
    if (raw[(row_bytes + 1) * y] != 0) return loss(0, "row filter is not 0");
    std::memcpy(img.rgba.data() + row_bytes * y, raw.data() + (row_bytes + 1) * y + 1, row_bytes);
  }
  return img;
}

absl::StatusOr<RgbaImage> ReadPng(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrFormat("%s: cannot open", path));
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t n;
  // 16384^2 RGBA plus overhead: refuse anything larger instead of reading it all.
  constexpr size_t kMaxBytes = size_t{1} << 31;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && bytes.size() < kMaxBytes) {
    bytes.insert(bytes.end(), buf, buf + n);
  }
  std::fclose(f);
  absl::StatusOr<RgbaImage> img = DecodePng(bytes);
  if (!img.ok()) return absl::DataLossError(absl::StrFormat("%s: %s", path, img.status().message()));
  return img;
}

}  // namespace fm::ui
