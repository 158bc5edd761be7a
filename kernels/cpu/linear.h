#pragma once
// y = W x for a batch of activation rows, with W read in its stored format (F32, BF16, F16,
// FP8 e4m3 with 128x128 ue8m0 block scales, MXFP4) and dequantised on the fly. Activations and
// outputs are fp32. This is the GEMV (n_rows_x == 1) and small-GEMM path of the CPU backend.

#include <cstdint>

#include "kernels/cpu/thread_pool.h"
#include "kernels/weight_view.h"

namespace fm::kernels::cpu {

// x: [n_x, w.cols] row-major; y: [n_x, w.rows] row-major (overwritten). `pool` may be null
// (single-threaded). Deterministic: the result does not depend on the pool size.
void Linear(const WeightView& w, const float* x, int64_t n_x, float* y, ThreadPool* pool);

// Dequantises row `row` of W into `out` [w.cols] (fp32). Used by embeddings and tests.
void DequantRow(const WeightView& w, int64_t row, float* out);

}  // namespace fm::kernels::cpu
