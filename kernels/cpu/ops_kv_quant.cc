#include "kernels/cpu/ops_kv_quant.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "kernels/numeric_formats.h"

namespace fm::kernels::cpu {
namespace {

constexpr float kFp8Max = 448.0f;
constexpr float kAmaxFloor = 1e-4f;
constexpr int64_t kTile = 64;

// ue8m0 exponent byte of 2^ceil(log2(amax / 448)), amax floored at 1e-4.
uint8_t Pow2ScaleByte(float amax) {
  const float s = std::max(amax, kAmaxFloor) / kFp8Max;
  int e = static_cast<int>(std::ceil(std::log2(static_cast<double>(s))));
  e = std::clamp(e, -126, 127);
  return static_cast<uint8_t>(e + 127);
}

}  // namespace

const float* E4m3Table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c) t[static_cast<size_t>(c)] = E4m3ToFloat(static_cast<uint8_t>(c));
    return t;
  }();
  return table.data();
}

uint8_t FloatToE4m3(float x) {
  if (std::isnan(x)) return 0x7f;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  float a = std::fabs(x);
  if (a >= kFp8Max) return sign | 0x7e;
  constexpr float kMinNormal = 0.015625f;  // 2^-6
  if (a < kMinNormal) {
    // Subnormals step 2^-9; code 8 (rounded up from 7.5) is exactly the smallest normal.
    const float m = std::nearbyint(a * 512.0f);
    return sign | static_cast<uint8_t>(m);
  }
  int e = 0;
  const float frac = std::frexp(a, &e);  // a = frac * 2^e, frac in [0.5, 1)
  int exp = e - 1;                        // a = (2 frac) * 2^exp, 2 frac in [1, 2)
  float q = std::nearbyint((2.0f * frac - 1.0f) * 8.0f);
  if (q >= 8.0f) {
    q = 0.0f;
    ++exp;
  }
  const int code = ((exp + 7) << 3) | static_cast<int>(q);
  return sign | static_cast<uint8_t>(std::min(code, 0x7e));
}

OpStatus QuantizeKv(const KvCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.nope_dims < 0 || p.rope_dims < 0 ||
      p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  const int64_t dim = p.nope_dims + p.rope_dims;
  const int64_t entry = KvEntryBytes(p.nope_dims, p.rope_dims);
  const int64_t n_tiles = (p.nope_dims + kTile - 1) / kTile;
  for (int64_t n = 0; n < p.n_entries; ++n) {
    const float* v = p.values + n * dim;
    uint8_t* b = p.bytes + n * entry;
    std::memset(b, 0, static_cast<size_t>(entry));
    uint8_t* scales = b + p.nope_dims + 2 * p.rope_dims;
    for (int64_t t = 0; t < n_tiles; ++t) {
      const int64_t d0 = t * kTile, d1 = std::min(p.nope_dims, d0 + kTile);
      float amax = 0.0f;
      for (int64_t d = d0; d < d1; ++d) amax = std::max(amax, std::fabs(v[d]));
      scales[t] = Pow2ScaleByte(amax);
      const float inv = 1.0f / E8m0ToFloat(scales[t]);  // exact: a power of two
      for (int64_t d = d0; d < d1; ++d) b[d] = FloatToE4m3(v[d] * inv);
    }
    uint8_t* rope = b + p.nope_dims;
    for (int64_t i = 0; i < p.rope_dims; ++i) {
      const uint16_t h = FloatToBf16(v[p.nope_dims + i]);
      std::memcpy(rope + 2 * i, &h, 2);  // host little-endian, like the GPU layout
    }
  }
  return OpStatus::kOk;
}

OpStatus DequantizeKv(const KvCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.nope_dims < 0 || p.rope_dims < 0 ||
      p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  const int64_t dim = p.nope_dims + p.rope_dims;
  const int64_t entry = KvEntryBytes(p.nope_dims, p.rope_dims);
  const float* lut = E4m3Table();
  for (int64_t n = 0; n < p.n_entries; ++n) {
    float* v = p.values + n * dim;
    const uint8_t* b = p.bytes + n * entry;
    const uint8_t* scales = b + p.nope_dims + 2 * p.rope_dims;
    for (int64_t d0 = 0; d0 < p.nope_dims; d0 += kTile) {
      const float scale = E8m0ToFloat(scales[d0 / kTile]);
      const int64_t d1 = std::min(p.nope_dims, d0 + kTile);
      for (int64_t d = d0; d < d1; ++d) v[d] = lut[b[d]] * scale;
    }
    const uint8_t* rope = b + p.nope_dims;
    for (int64_t i = 0; i < p.rope_dims; ++i) {
      uint16_t h;
      std::memcpy(&h, rope + 2 * i, 2);
      v[p.nope_dims + i] = Bf16ToFloat(h);
    }
  }
  return OpStatus::kOk;
}

OpStatus QuantizeIndexKey(const IndexKeyCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.dim <= 0 || p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  const int64_t entry = IndexKeyBytes(p.dim);
  for (int64_t n = 0; n < p.n_entries; ++n) {
    const float* v = p.values + n * p.dim;
    uint8_t* b = p.bytes + n * entry;
    float amax = 0.0f;
    for (int64_t d = 0; d < p.dim; ++d) amax = std::max(amax, std::fabs(v[d]));
    // A plain fp32 scale (not a power of two), as the indexer's store kernel writes it.
    const float scale = std::max(amax, kAmaxFloor) / kFp8Max;
    for (int64_t d = 0; d < p.dim; ++d) b[d] = FloatToE4m3(v[d] / scale);
    std::memcpy(b + p.dim, &scale, 4);
  }
  return OpStatus::kOk;
}

OpStatus DequantizeIndexKey(const IndexKeyCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.dim <= 0 || p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  const int64_t entry = IndexKeyBytes(p.dim);
  for (int64_t n = 0; n < p.n_entries; ++n) {
    const uint8_t* b = p.bytes + n * entry;
    float scale;
    std::memcpy(&scale, b + p.dim, 4);
    const float* lut = E4m3Table();
    for (int64_t d = 0; d < p.dim; ++d) p.values[n * p.dim + d] = lut[b[d]] * scale;
  }
  return OpStatus::kOk;
}

}  // namespace fm::kernels::cpu
