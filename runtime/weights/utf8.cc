#include "runtime/weights/utf8.h"

namespace fm::rt {

int64_t FirstInvalidUtf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const int64_t n = static_cast<int64_t>(bytes.size());
  int64_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    int len;
    unsigned char lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (b >= 0xc2 && b <= 0xdf) {
      len = 2;
    } else if (b == 0xe0) {
      len = 3, lo = 0xa0;  // excludes overlong 3-byte forms
    } else if (b >= 0xe1 && b <= 0xef) {
      len = 3;
      if (b == 0xed) hi = 0x9f;  // excludes UTF-16 surrogates
    } else if (b == 0xf0) {
      len = 4, lo = 0x90;
    } else if (b >= 0xf1 && b <= 0xf3) {
      len = 4;
    } else if (b == 0xf4) {
      len = 4, hi = 0x8f;  // nothing above U+10FFFF
    } else {
      return i;  // continuation byte without a lead, 0xc0/0xc1 overlong leads, 0xf5..0xff
    }
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (int k = 2; k < len; ++k) {
      if (p[i + k] < 0x80 || p[i + k] > 0xbf) return i;
    }
    i += len;
  }
  return -1;
}

}  // namespace fm::rt
