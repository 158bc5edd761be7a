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
  // NaNs come back quiet, as F16C's vcvtph2ps returns them.
  if (exp == 31) return BitsToFloat(sign | 0x7f800000u | (man << 13) | (man ? 0x00400000u : 0u));
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

// ---- Encoders (float -> format). Used by quantising stores, `flashmem synth` and tests. ----

// FP8 e4m3 "fn", round-to-nearest-even, saturating to +-448 (the format has no infinity; a value
// past the top must not become the NaN code). NaN -> 0x7f (sign kept).
FM_HD uint8_t FloatToE4m3(float f) {
  const uint32_t u = FloatToBits(f);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  const uint32_t a_bits = u & 0x7fffffffu;
  if (a_bits > 0x7f800000u) return static_cast<uint8_t>(sign | 0x7fu);
  const float a = BitsToFloat(a_bits);
  if (a >= 448.0f) return static_cast<uint8_t>(sign | 0x7eu);
  if (a < 0.015625f) {  // below 2^-6: subnormal grid of 2^-9; code == multiple of 2^-9 (8 -> 2^-6)
    const float t = a * 512.0f;  // exact: power-of-two scaling
    uint32_t q = static_cast<uint32_t>(t);
    const float frac = t - static_cast<float>(q);
    if (frac > 0.5f || (frac == 0.5f && (q & 1u))) ++q;
    return static_cast<uint8_t>(sign | q);
  }
  // Normal: keep 3 mantissa bits of the fp32 encoding, round half to even on the dropped 20 bits;
  // a carry into the exponent is the correct rounding. Rebias 127 -> 7.
  const uint32_t rounded = (a_bits + 0x7ffffu + ((a_bits >> 20) & 1u)) >> 20;
  return static_cast<uint8_t>(sign | (rounded - (120u << 3)));
}

// The e8m0 byte of the smallest power of two >= x (x > 0), clamped to the finite range [0, 254].
// x <= 0 or NaN -> 127 (scale 1: any scale represents an all-zero block).
FM_HD uint8_t FloatToE8m0Ceil(float x) {
  if (!(x > 0.0f)) return 127;
  const uint32_t u = FloatToBits(x);
  if (u >= 0x7f800000u) return 254;
  int32_t e = static_cast<int32_t>(u >> 23);  // biased exponent (0 for subnormals)
  if (e == 0) return 0;                       // below 2^-126: the smallest scales
  if ((u & 0x7fffffu) != 0) ++e;              // not a power of two: round the exponent up
  if (e > 254) e = 254;
  return static_cast<uint8_t>(e);
}

// Power-of-two scale for a block whose largest magnitude is `max_abs`, so that max_abs / scale
// fits the format's largest code `max_code` (448 for e4m3, 6 for e2m1) without saturating.
FM_HD uint8_t E8m0ScaleFor(float max_abs, float max_code) {
  return FloatToE8m0Ceil(max_abs / max_code);
}

// e2m1 (FP4) code of the nearest representable value, ties to the even code, saturating to +-6.
// The sign bit is kept (so small negatives give -0, code 8). NaN -> 0.
FM_HD uint8_t FloatToE2m1(float f) {
  const uint32_t u = FloatToBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0;
  const uint8_t sign = static_cast<uint8_t>((u >> 28) & 0x8u);
  const float a = BitsToFloat(u & 0x7fffffffu);
  uint8_t code;
  if (a <= 0.25f) code = 0;
  else if (a < 0.75f) code = 1;
  else if (a <= 1.25f) code = 2;
  else if (a < 1.75f) code = 3;
  else if (a <= 2.5f) code = 4;
  else if (a < 3.5f) code = 5;
  else if (a <= 5.0f) code = 6;
  else code = 7;
  return static_cast<uint8_t>(sign | code);
}

}  // namespace fm::kernels
