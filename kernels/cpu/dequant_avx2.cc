#include "kernels/cpu/dequant_avx2.h"

#include <immintrin.h>

#include "kernels/numeric_formats.h"

namespace fm::kernels::cpu {

bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                           __builtin_cpu_supports("f16c");
  return have;
}

namespace {

#define FM_AVX2 __attribute__((target("avx2,fma,f16c")))

// Software prefetch distance into the weight stream. The dequantise + FMA work per cache line is
// long enough that the hardware prefetcher alone leaves a single core at ~1/3 of its DRAM read rate.
constexpr int kPrefetchBytes = 4096;

// 8 e4m3 bytes -> 8 floats through fp16: s.eeee.mmm placed as fp16 s.0eeee.mmm0000000 is exactly
// value * 2^-8 for every finite code, subnormals included (fp16's exponent bias is 8 more than
// e4m3's), and F16C widens it exactly; * 256 restores the value. 0x7f/0xff become the signed
// canonical NaN, as in the scalar decoder. 16-bit lanes do the bit work: half the width of the
// 32-bit route.
FM_AVX2 inline __m256 E4m3x8(const uint8_t* p) {
  __m128i v = _mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  __m128i sign = _mm_slli_epi16(_mm_and_si128(v, _mm_set1_epi16(0x80)), 8);
  __m128i em = _mm_and_si128(v, _mm_set1_epi16(0x7f));
  __m128i is_nan = _mm_cmpeq_epi16(em, _mm_set1_epi16(0x7f));
  __m128i mag = _mm_blendv_epi8(_mm_slli_epi16(em, 7), _mm_set1_epi16(0x7e00), is_nan);
  return _mm256_mul_ps(_mm256_cvtph_ps(_mm_or_si128(mag, sign)), _mm256_set1_ps(256.0f));
}

// 4 bytes = 8 e2m1 codes (low nibble first) -> 8 floats through an in-register table.
FM_AVX2 inline __m256 E2m1x8(const uint8_t* p) {
  uint32_t four;
  __builtin_memcpy(&four, p, 4);
  __m128i bytes = _mm_cvtsi32_si128(static_cast<int>(four));
  __m128i dup = _mm_shuffle_epi8(bytes, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, -1, -1, -1, -1, -1,
                                                       -1, -1, -1));
  __m256i v = _mm256_cvtepu8_epi32(dup);
  __m256i codes = _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4)),
                                   _mm256_set1_epi32(0xf));
  const __m256 table = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
  __m256 mag = _mm256_permutevar8x32_ps(table, codes);  // uses the low 3 bits of each index
  __m256i sign = _mm256_slli_epi32(_mm256_and_si256(codes, _mm256_set1_epi32(8)), 28);
  return _mm256_or_ps(mag, _mm256_castsi256_ps(sign));
}

}  // namespace

FM_AVX2 void DequantTileAvx2(const WeightView& w, int64_t row, int64_t col0, int64_t n, float* out) {
  const int64_t vec_n = n & ~int64_t{7};
  switch (w.format) {
    case WeightFormat::kF32: {
      const float* src = static_cast<const float*>(w.data) + row * w.cols + col0;
      for (int64_t j = 0; j < n; ++j) out[j] = src[j];
      return;
    }
    case WeightFormat::kBF16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + row * w.cols + col0;
      for (int64_t j = 0; j < vec_n; j += 8) {
        if ((j & 31) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + j) + kPrefetchBytes, _MM_HINT_T0);
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j)));
        _mm256_storeu_ps(out + j, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
      }
      for (int64_t j = vec_n; j < n; ++j) out[j] = Bf16ToFloat(src[j]);
      return;
    }
    case WeightFormat::kF16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + row * w.cols + col0;
      for (int64_t j = 0; j < vec_n; j += 8) {
        _mm256_storeu_ps(out + j,
                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j))));
      }
      for (int64_t j = vec_n; j < n; ++j) out[j] = F16ToFloat(src[j]);
      return;
    }
    case WeightFormat::kFP8Block128: {
      const uint8_t* src = static_cast<const uint8_t*>(w.data) + row * w.cols + col0;
      const uint8_t* srow = w.scale + (row / 128) * w.scale_cols;
      for (int64_t j = 0; j < vec_n; j += 8) {
        if ((j & 63) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + j) + kPrefetchBytes, _MM_HINT_T0);
        __m256 s = _mm256_set1_ps(E8m0ToFloat(srow[(col0 + j) / 128]));
        _mm256_storeu_ps(out + j, _mm256_mul_ps(E4m3x8(src + j), s));
      }
      for (int64_t j = vec_n; j < n; ++j) {
        out[j] = E4m3ToFloat(src[j]) * E8m0ToFloat(srow[(col0 + j) / 128]);
      }
      return;
    }
    case WeightFormat::kMXFP4: {
      const uint8_t* src = static_cast<const uint8_t*>(w.data) + row * (w.cols / 2) + col0 / 2;
      const uint8_t* srow = w.scale + row * w.scale_cols;
      for (int64_t j = 0; j < vec_n; j += 8) {
        if ((j & 127) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + j / 2) + kPrefetchBytes, _MM_HINT_T0);
        __m256 s = _mm256_set1_ps(E8m0ToFloat(srow[(col0 + j) / 32]));
        _mm256_storeu_ps(out + j, _mm256_mul_ps(E2m1x8(src + j / 2), s));
      }
      for (int64_t j = vec_n; j < n; j += 2) {
        uint8_t b = src[j / 2];
        float s = E8m0ToFloat(srow[(col0 + j) / 32]);
        out[j] = E2m1ToFloat(b & 0xf) * s;
        if (j + 1 < n) out[j + 1] = E2m1ToFloat(b >> 4) * s;
      }
      return;
    }
  }
}

namespace {

// The one reduction order of the 4 FMA chains, shared by DotAvx2 and FusedDot so that both round
// identically.
FM_AVX2 inline float ReduceChains(__m256 acc0, __m256 acc1, __m256 acc2, __m256 acc3) {
  __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
  __m128 lo = _mm256_castps256_ps128(acc), hi = _mm256_extractf128_ps(acc, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

// Column loaders for the fused GEMV: Vec(j) returns dequantised W[row, col0 + j .. + 8) exactly as
// DequantTileAvx2 would store it, Scalar(j) one element; both also prefetch ahead in the stream.
struct F32Cols {
  const float* src;
  FM_AVX2 __m256 Vec(int64_t j) const { return _mm256_loadu_ps(src + j); }
  float Scalar(int64_t j) const { return src[j]; }
};
struct Bf16Cols {
  const uint16_t* src;
  FM_AVX2 __m256 Vec(int64_t j) const {
    if ((j & 31) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + j) + kPrefetchBytes, _MM_HINT_T0);
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  float Scalar(int64_t j) const { return Bf16ToFloat(src[j]); }
};
struct F16Cols {
  const uint16_t* src;
  FM_AVX2 __m256 Vec(int64_t j) const {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j)));
  }
  float Scalar(int64_t j) const { return F16ToFloat(src[j]); }
};
// The block scale is decoded once per block, not once per 8 columns: the scalar decode and
// broadcast per vector cost as much as the e4m3 widening itself.
struct Fp8Cols {
  const uint8_t* src;   // W[row, col0]
  const uint8_t* srow;  // scale row of this 128-row block
  int64_t col0;
  mutable int64_t scale_block = -1;
  mutable __m256 scale_v;
  FM_AVX2 __m256 Vec(int64_t j) const {
    if ((j & 63) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + j) + kPrefetchBytes, _MM_HINT_T0);
    const int64_t block = (col0 + j) >> 7;
    if (block != scale_block) {
      scale_block = block;
      scale_v = _mm256_set1_ps(E8m0ToFloat(srow[block]));
    }
    return _mm256_mul_ps(E4m3x8(src + j), scale_v);
  }
  float Scalar(int64_t j) const { return E4m3ToFloat(src[j]) * E8m0ToFloat(srow[(col0 + j) / 128]); }
};
struct Fp4Cols {
  const uint8_t* src;   // packed bytes of W[row, col0]
  const uint8_t* srow;  // scale row of `row`
  int64_t col0;
  mutable int64_t scale_block = -1;
  mutable __m256 scale_v;
  FM_AVX2 __m256 Vec(int64_t j) const {
    if ((j & 127) == 0) _mm_prefetch(reinterpret_cast<const char*>(src + j / 2) + kPrefetchBytes, _MM_HINT_T0);
    const int64_t block = (col0 + j) >> 5;
    if (block != scale_block) {
      scale_block = block;
      scale_v = _mm256_set1_ps(E8m0ToFloat(srow[block]));
    }
    return _mm256_mul_ps(E2m1x8(src + j / 2), scale_v);
  }
  float Scalar(int64_t j) const {
    uint8_t b = src[j / 2];
    return E2m1ToFloat((j & 1) ? (b >> 4) : (b & 0xf)) * E8m0ToFloat(srow[(col0 + j) / 32]);
  }
};

// The same accumulation order as DotAvx2 (4 chains over 32-column strides, one 8-wide tail chain,
// pairwise reduction, scalar tail), so fused and buffered GEMV give bit-identical results.
template <typename Cols>
FM_AVX2 float FusedDot(const Cols& cols, const float* x, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    acc0 = _mm256_fmadd_ps(cols.Vec(j), _mm256_loadu_ps(x + j), acc0);
    acc1 = _mm256_fmadd_ps(cols.Vec(j + 8), _mm256_loadu_ps(x + j + 8), acc1);
    acc2 = _mm256_fmadd_ps(cols.Vec(j + 16), _mm256_loadu_ps(x + j + 16), acc2);
    acc3 = _mm256_fmadd_ps(cols.Vec(j + 24), _mm256_loadu_ps(x + j + 24), acc3);
  }
  for (; j + 8 <= n; j += 8) acc0 = _mm256_fmadd_ps(cols.Vec(j), _mm256_loadu_ps(x + j), acc0);
  float total = ReduceChains(acc0, acc1, acc2, acc3);
  for (; j < n; ++j) total += cols.Scalar(j) * x[j];
  return total;
}

}  // namespace

FM_AVX2 float DequantDotTileAvx2(const WeightView& w, int64_t row, int64_t col0, int64_t n,
                                 const float* x) {
  switch (w.format) {
    case WeightFormat::kF32:
      return FusedDot(F32Cols{static_cast<const float*>(w.data) + row * w.cols + col0}, x, n);
    case WeightFormat::kBF16:
      return FusedDot(Bf16Cols{static_cast<const uint16_t*>(w.data) + row * w.cols + col0}, x, n);
    case WeightFormat::kF16:
      return FusedDot(F16Cols{static_cast<const uint16_t*>(w.data) + row * w.cols + col0}, x, n);
    case WeightFormat::kFP8Block128:
      return FusedDot(Fp8Cols{static_cast<const uint8_t*>(w.data) + row * w.cols + col0,
                              w.scale + (row / 128) * w.scale_cols, col0, -1, _mm256_setzero_ps()},
                      x, n);
    case WeightFormat::kMXFP4:
      return FusedDot(Fp4Cols{static_cast<const uint8_t*>(w.data) + row * (w.cols / 2) + col0 / 2,
                              w.scale + row * w.scale_cols, col0, -1, _mm256_setzero_ps()},
                      x, n);
  }
  return 0.0f;
}

FM_AVX2 float DotAvx2(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 16), _mm256_loadu_ps(b + j + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 24), _mm256_loadu_ps(b + j + 24), acc3);
  }
  for (; j + 8 <= n; j += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
  }
  float total = ReduceChains(acc0, acc1, acc2, acc3);
  for (; j < n; ++j) total += a[j] * b[j];
  return total;
}

}  // namespace fm::kernels::cpu
