#include "kernels/cpu/linear.h"

#include <algorithm>
#include <vector>

#include "kernels/numeric_formats.h"

namespace fm::kernels::cpu {

void DequantRow(const WeightView& w, int64_t row, float* out) {
  const int64_t cols = w.cols;
  switch (w.format) {
    case WeightFormat::kF32: {
      const float* src = static_cast<const float*>(w.data) + row * cols;
      std::copy(src, src + cols, out);
      return;
    }
    case WeightFormat::kBF16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + row * cols;
      for (int64_t j = 0; j < cols; ++j) out[j] = Bf16ToFloat(src[j]);
      return;
    }
    case WeightFormat::kF16: {
      const uint16_t* src = static_cast<const uint16_t*>(w.data) + row * cols;
      for (int64_t j = 0; j < cols; ++j) out[j] = F16ToFloat(src[j]);
      return;
    }
    case WeightFormat::kFP8Block128: {
      const uint8_t* src = static_cast<const uint8_t*>(w.data) + row * cols;
      const uint8_t* srow = w.scale + (row / 128) * w.scale_cols;
      for (int64_t j = 0; j < cols; ++j) out[j] = E4m3ToFloat(src[j]) * E8m0ToFloat(srow[j / 128]);
      return;
    }
    case WeightFormat::kMXFP4: {
      const uint8_t* src = static_cast<const uint8_t*>(w.data) + row * (cols / 2);
      const uint8_t* srow = w.scale + row * w.scale_cols;
      for (int64_t j = 0; j < cols; j += 2) {
        uint8_t b = src[j / 2];
        float s = E8m0ToFloat(srow[j / 32]);
        out[j] = E2m1ToFloat(b & 0xf) * s;
        out[j + 1] = E2m1ToFloat(b >> 4) * s;
      }
      return;
    }
  }
}

void Linear(const WeightView& w, const float* x, int64_t n_x, float* y, ThreadPool* pool) {
  auto rows_block = [&](int64_t r0, int64_t r1) {
    std::vector<float> wrow(static_cast<size_t>(w.cols));
    for (int64_t r = r0; r < r1; ++r) {
      DequantRow(w, r, wrow.data());
      for (int64_t t = 0; t < n_x; ++t) {
        const float* xt = x + t * w.cols;
        float acc = 0.0f;
        for (int64_t j = 0; j < w.cols; ++j) acc += wrow[j] * xt[j];
        y[t * w.rows + r] = acc;
      }
    }
  };
  if (pool) {
    pool->ParallelFor(w.rows, 16, rows_block);
  } else {
    rows_block(0, w.rows);
  }
}

}  // namespace fm::kernels::cpu
