#include "traces/crc32c.h"

#include <array>
#include <cstring>

namespace fm::traces {
namespace {

constexpr uint32_t kPoly = 0x82F63B78u;

// kTables[k][b] is the CRC contribution of byte b followed by k zero bytes; sixteen tables (16 KiB,
// L1-resident) let the loop fold sixteen input bytes per iteration instead of one. The drain
// checksums every Events payload, so this is on its throughput path (~2x slicing-by-8).
constexpr std::array<std::array<uint32_t, 256>, 16> MakeTables() {
  std::array<std::array<uint32_t, 256>, 16> t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; ++b) {
    for (int k = 1; k < 16; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}
constexpr auto kTables = MakeTables();

}  // namespace

uint32_t Crc32c(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t c = ~crc;
  while (n >= 16) {
    uint32_t w[4];
    std::memcpy(w, p, 16);  // little-endian host (see common/little_endian.h)
    w[0] ^= c;
    c = kTables[15][w[0] & 0xFF] ^ kTables[14][(w[0] >> 8) & 0xFF] ^
        kTables[13][(w[0] >> 16) & 0xFF] ^ kTables[12][w[0] >> 24] ^
        kTables[11][w[1] & 0xFF] ^ kTables[10][(w[1] >> 8) & 0xFF] ^
        kTables[9][(w[1] >> 16) & 0xFF] ^ kTables[8][w[1] >> 24] ^
        kTables[7][w[2] & 0xFF] ^ kTables[6][(w[2] >> 8) & 0xFF] ^
        kTables[5][(w[2] >> 16) & 0xFF] ^ kTables[4][w[2] >> 24] ^
        kTables[3][w[3] & 0xFF] ^ kTables[2][(w[3] >> 8) & 0xFF] ^
        kTables[1][(w[3] >> 16) & 0xFF] ^ kTables[0][w[3] >> 24];
    p += 16;
    n -= 16;
  }
  while (n-- > 0) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xFF];
  return ~c;
}

}  // namespace fm::traces
