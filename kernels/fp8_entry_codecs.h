#pragma once
// The per-entry FP8 KV and index-key codecs of kernels/backend.h (KvCodecParams,
// IndexKeyCodecParams), as __host__ __device__ functions: the CPU ops (kernels/cpu/ops_kv_quant.cc)
// loop over entries calling them and the CUDA kernels (kernels/cuda/ops_pointwise.cu) run one entry
// per thread, so both backends share one codec and agree bit for bit. Plain C++ (no STL): .cu files
// include this header.

#include <cstdint>
#include <cstring>

#include "kernels/backend.h"
#include "kernels/numeric_formats.h"

namespace fm::kernels {

inline constexpr float kFp8Max = 448.0f;
inline constexpr float kFp8AmaxFloor = 1e-4f;
inline constexpr int64_t kKvScaleTile = 64;

// max(amax, |x|) with std::max's rule (the first argument wins unless the second is larger), so a
// NaN value leaves the running amax alone.
FM_HD float Fp8AmaxStep(float amax, float x) {
  const float a = BitsToFloat(FloatToBits(x) & 0x7fffffffu);
  return amax < a ? a : amax;
}

// max(amax, 1e-4): an all-zero block still gets a finite scale.
FM_HD float Fp8AmaxFloored(float amax) { return amax > kFp8AmaxFloor ? amax : kFp8AmaxFloor; }

// ue8m0 byte of 2^ceil(log2(max(amax, 1e-4) / 448)): the smallest power of two >= the quotient.
FM_HD uint8_t KvTileScaleByte(float amax) {
  return FloatToE8m0Ceil(Fp8AmaxFloored(amax) / kFp8Max);
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
    for (int64_t d = d0; d < d1; ++d) amax = Fp8AmaxStep(amax, v[d]);
    scales[t] = KvTileScaleByte(amax);
    const float inv = 1.0f / E8m0ToFloat(scales[t]);  // exact: a power of two
    for (int64_t d = d0; d < d1; ++d) b[d] = FloatToE4m3(v[d] * inv);
  }
  for (int64_t i = 0; i < rope; ++i) {
    const uint16_t h = FloatToBf16(v[nope + i]);
    b[nope + 2 * i] = static_cast<uint8_t>(h & 0xffu);  // little-endian, the GPU layout
    b[nope + 2 * i + 1] = static_cast<uint8_t>(h >> 8);
  }
  for (int64_t i = nope + 2 * rope + n_tiles; i < entry; ++i) b[i] = 0;  // padding
}

// The decoders take the e4m3 decode as a parameter: E4m3Compute (the device: no table in memory) or
// a lookup in a table of the 256 codes built from E4m3ToFloat (the CPU, where a lookup is about 15x
// faster than computing). The values are the same either way.
struct E4m3Compute {
  FM_HD float operator()(uint8_t code) const { return E4m3ToFloat(code); }
};

template <typename E4m3Decode = E4m3Compute>
FM_HD void DequantizeKvEntry(const uint8_t* b, int64_t nope, int64_t rope, float* v,
                             E4m3Decode decode = {}) {
  const uint8_t* scales = b + nope + 2 * rope;
  for (int64_t d0 = 0; d0 < nope; d0 += kKvScaleTile) {
    const float scale = E8m0ToFloat(scales[d0 / kKvScaleTile]);
    const int64_t d1 = d0 + kKvScaleTile < nope ? d0 + kKvScaleTile : nope;
    for (int64_t d = d0; d < d1; ++d) v[d] = decode(b[d]) * scale;
  }
  for (int64_t i = 0; i < rope; ++i) {
    const uint16_t h = static_cast<uint16_t>(b[nope + 2 * i] | (b[nope + 2 * i + 1] << 8));
    v[nope + i] = Bf16ToFloat(h);
  }
}

// One index key: dim e4m3 bytes, then the fp32 scale max(amax, 1e-4) / 448 (not a power of two,
// as the indexer's store kernel writes it).
FM_HD void QuantizeIndexKeyEntry(const float* v, int64_t dim, uint8_t* b) {
  float amax = 0.0f;
  for (int64_t d = 0; d < dim; ++d) amax = Fp8AmaxStep(amax, v[d]);
  const float scale = Fp8AmaxFloored(amax) / kFp8Max;
  for (int64_t d = 0; d < dim; ++d) b[d] = FloatToE4m3(v[d] / scale);
  memcpy(b + dim, &scale, 4);
}

template <typename E4m3Decode = E4m3Compute>
FM_HD void DequantizeIndexKeyEntry(const uint8_t* b, int64_t dim, float* v,
                                   E4m3Decode decode = {}) {
  float scale;
  memcpy(&scale, b + dim, 4);
  for (int64_t d = 0; d < dim; ++d) v[d] = decode(b[d]) * scale;
}

}  // namespace fm::kernels
