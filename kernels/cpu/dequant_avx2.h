#pragma once
// AVX2 + FMA + F16C dequantisation of weight tiles to fp32, used by Linear when the CPU has them
// (checked once at run time). Bit-identical to the scalar DequantRow for every code, NaN included.

#include <cstdint>

#include "kernels/weight_view.h"

namespace fm::kernels::cpu {

// True when AVX2, FMA and F16C are available (cached).
bool HaveAvx2();

// Dequantises W[row, col0 : col0 + n] into out[0 : n]. col0 and n are multiples of 32 (MXFP4 and
// FP8 scale blocks never straddle an 8-lane vector) except for a tail, which is done in scalar code.
void DequantTileAvx2(const WeightView& w, int64_t row, int64_t col0, int64_t n, float* out);

// sum_j W[row, col0 + j] * x[j] for j < n, dequantising in registers (no tile buffer). Bit-identical
// to DotAvx2 over the tile DequantTileAvx2 writes. col0 is a multiple of 32.
float DequantDotTileAvx2(const WeightView& w, int64_t row, int64_t col0, int64_t n, const float* x);

// sum_j a[j] * b[j] with 4 independent FMA chains.
float DotAvx2(const float* a, const float* b, int64_t n);

}  // namespace fm::kernels::cpu
