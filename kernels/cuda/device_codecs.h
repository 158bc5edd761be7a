#pragma once
// Per-entry FP8 codecs and the top-k ordering key, as __host__ __device__ functions: the CUDA
// kernels (ops_pointwise.cu, ops_select.cu) run exactly this code, and kernels/cuda/tests checks
// it on the CPU against the CPU ops bit for bit, so codec parity is verified on machines without a
// GPU. Semantics: kernels/backend.h (KvCodecParams, IndexKeyCodecParams, TopKParams).

#include <cstdint>
#include <cstring>

#include "kernels/backend.h"
#include "kernels/numeric_formats.h"

namespace fm::kernels::cuda {

inline constexpr float kFp8Max = 448.0f;
inline constexpr float kAmaxFloor = 1e-4f;
inline constexpr int64_t kKvScaleTile = 64;

FM_HD float AbsF(float x) { return BitsToFloat(FloatToBits(x) & 0x7fffffffu); }
FM_HD float MaxF(float a, float b) { return a > b ? a : b; }

// ue8m0 byte of 2^ceil(log2(max(amax, 1e-4) / 448)): the smallest power of two >= the quotient.
FM_HD uint8_t KvTileScaleByte(float amax) {
  return FloatToE8m0Ceil(MaxF(amax, kAmaxFloor) / kFp8Max);
}

// One KV entry: values [nope + rope] -> bytes [KvEntryBytes(nope, rope)], every byte written.
FM_HD void QuantizeKvEntry(const float* v, int64_t nope, int64_t rope, uint8_t* b) {
  const int64_t entry = KvEntryBytes(nope, rope);
  const int64_t n_tiles = (nope + kKvScaleTile - 1) / kKvScaleTile;
  uint8_t* scales = b + nope + 2 * rope;
  for (int64_t t = 0; t < n_tiles; ++t) {
    const int64_t d0 = t * kKvScaleTile;
    const int64_t d1 = d0 + kKvScaleTile < nope ? d0 + kKvScaleTile : nope;
    float amax = 0.0f;
    for (int64_t d = d0; d < d1; ++d) amax = MaxF(amax, AbsF(v[d]));
    scales[t] = KvTileScaleByte(amax);
    const float inv = 1.0f / E8m0ToFloat(scales[t]);  // exact: a power of two
    for (int64_t d = d0; d < d1; ++d) b[d] = FloatToE4m3(v[d] * inv);
  }
  for (int64_t i = 0; i < rope; ++i) {
    const uint16_t h = FloatToBf16(v[nope + i]);
    b[nope + 2 * i] = static_cast<uint8_t>(h & 0xffu);  // little-endian, as the CPU stores it
    b[nope + 2 * i + 1] = static_cast<uint8_t>(h >> 8);
  }
  for (int64_t i = nope + 2 * rope + n_tiles; i < entry; ++i) b[i] = 0;  // padding
}

FM_HD void DequantizeKvEntry(const uint8_t* b, int64_t nope, int64_t rope, float* v) {
  const uint8_t* scales = b + nope + 2 * rope;
  for (int64_t d = 0; d < nope; ++d)
    v[d] = E4m3ToFloat(b[d]) * E8m0ToFloat(scales[d / kKvScaleTile]);
  for (int64_t i = 0; i < rope; ++i) {
    const uint16_t h = static_cast<uint16_t>(b[nope + 2 * i] | (b[nope + 2 * i + 1] << 8));
    v[nope + i] = Bf16ToFloat(h);
  }
}

// One index key: dim e4m3 bytes, then the fp32 scale max(amax, 1e-4) / 448 (not a power of two).
FM_HD void QuantizeIndexKeyEntry(const float* v, int64_t dim, uint8_t* b) {
  float amax = 0.0f;
  for (int64_t d = 0; d < dim; ++d) amax = MaxF(amax, AbsF(v[d]));
  const float scale = MaxF(amax, kAmaxFloor) / kFp8Max;
  for (int64_t d = 0; d < dim; ++d) b[d] = FloatToE4m3(v[d] / scale);
  memcpy(b + dim, &scale, 4);
}

FM_HD void DequantizeIndexKeyEntry(const uint8_t* b, int64_t dim, float* v) {
  float scale;
  memcpy(&scale, b + dim, 4);
  for (int64_t d = 0; d < dim; ++d) v[d] = E4m3ToFloat(b[d]) * scale;
}

// Top-k order as one unsigned key: larger key = better (higher score, then lower index), so a
// radix select over keys reproduces TopKParams' order exactly. -0 and +0 compare equal, as they
// do in the CPU op. Scores must not be NaN.
FM_HD uint64_t TopKKey(float score, int32_t index) {
  uint32_t u = FloatToBits(score);
  if (u == 0x80000000u) u = 0;                     // -0 -> +0
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // monotone float -> uint32
  return (static_cast<uint64_t>(u) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(index));
}
FM_HD int32_t TopKKeyIndex(uint64_t key) {
  return static_cast<int32_t>(~static_cast<uint32_t>(key & 0xffffffffu));
}

}  // namespace fm::kernels::cuda
