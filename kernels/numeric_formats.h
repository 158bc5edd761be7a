#pragma once
// Scalar decoders for the checkpoint and KV number formats: bf16, fp16, FP8 e4m3 "fn", ue8m0 /
// e8m0 power-of-two scales and e2m1 (FP4). Header-only, no STL containers: CPU and CUDA share it.
// Encoders (float -> format, round-to-nearest-even) live beside the decoders.

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define FM_HD __host__ __device__ inline
#else
#define FM_HD inline
#endif

namespace fm::kernels {

FM_HD float BitsToFloat(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
FM_HD uint32_t FloatToBits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

FM_HD float Bf16ToFloat(uint16_t h) { return BitsToFloat(static_cast<uint32_t>(h) << 16); }

// Round-to-nearest-even, NaN preserved (quietened).
FM_HD uint16_t FloatToBf16(float f) {
  uint32_t u = FloatToBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

FM_HD float F16ToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  if (exp == 0) {
    float v = static_cast<float>(man) * (1.0f / 16777216.0f);  // 2^-24
    return sign ? -v : v;
  }
  if (exp == 31) return BitsToFloat(sign | 0x7f800000u | (man << 13));
  return BitsToFloat(sign | ((exp + 112u) << 23) | (man << 13));
}

// FP8 e4m3 "fn": bias 7, no infinities, 0x7f/0xff are NaN, max 448, subnormals 2^-9 * mantissa.
FM_HD float E4m3ToFloat(uint8_t b) {
  uint32_t sign = b & 0x80u;
  uint32_t exp = (b >> 3) & 0xfu;
  uint32_t man = b & 0x7u;
  float v;
  if (exp == 0) {
    v = static_cast<float>(man) * 0.001953125f;  // 2^-9
  } else if (exp == 15 && man == 7) {
    v = BitsToFloat(0x7fc00000u);
  } else {
    v = BitsToFloat(((exp + 120u) << 23) | (man << 20));
  }
  return sign ? -v : v;
}

// ue8m0 / e8m0: value = 2^(b - 127). 255 is NaN in the OCP spec.
FM_HD float E8m0ToFloat(uint8_t b) {
  if (b == 255) return BitsToFloat(0x7fc00000u);
  if (b == 0) return BitsToFloat(0x00400000u);  // 2^-127 is subnormal in fp32
  return BitsToFloat(static_cast<uint32_t>(b) << 23);
}

// e2m1 code (low 4 bits) -> value: 0, .5, 1, 1.5, 2, 3, 4, 6, then negatives.
FM_HD float E2m1ToFloat(uint8_t code) {
  constexpr float kMag[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  float v = kMag[code & 7u];
  return (code & 8u) ? -v : v;
}

}  // namespace fm::kernels
