#include "kernels/cpu/linear.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/dequant_avx2.h"
#include "kernels/numeric_formats.h"

namespace fm::kernels::cpu {
namespace {

// Column tile: 512 fp32 = 2 KiB stays in L1 next to the activation tile. A multiple of 128 so FP8
// scale blocks and MXFP4 groups never straddle tiles.
constexpr int64_t kTileCols = 512;
// Rows dequantised together when several activation rows share them (prefill): 8 rows x 4096 cols
// = 128 KiB of fp32, which stays in L2 while every activation row streams past.
constexpr int64_t kRowBlock = 8;

void DequantTile(const WeightView& w, int64_t row, int64_t col0, int64_t n, float* out,
                 bool fast) {
  if (fast) {
    DequantTileAvx2(w, row, col0, n, out);
    return;
  }
  // Scalar path: dequantise the whole row prefix we need via the reference decoder.
  thread_local std::vector<float> full;
  if (static_cast<int64_t>(full.size()) < w.cols) full.resize(static_cast<size_t>(w.cols));
  DequantRow(w, row, full.data());
  std::copy(full.data() + col0, full.data() + col0 + n, out);
}

float Dot(const float* a, const float* b, int64_t n, bool fast) {
  if (fast) return DotAvx2(a, b, n);
  float acc = 0.0f;
  for (int64_t j = 0; j < n; ++j) acc += a[j] * b[j];
  return acc;
}

}  // namespace

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
  const bool fast = HaveAvx2();
  const int64_t n_blocks = (w.rows + kRowBlock - 1) / kRowBlock;
  // Every output element is the same sequence of per-tile dot products whichever path or pool
  // size computes it, so GEMV (decode) and GEMM (prefill) results are bit-identical.
  auto blocks = [&](int64_t b0, int64_t b1) {
    thread_local std::vector<float> buf;
    if (n_x == 1 && fast) {
      // Decode GEMV: dequantise in registers, straight into the FMA chains.
      for (int64_t r = b0 * kRowBlock; r < std::min(w.rows, b1 * kRowBlock); ++r) {
        float acc = 0.0f;
        for (int64_t c0 = 0; c0 < w.cols; c0 += kTileCols) {
          acc += DequantDotTileAvx2(w, r, c0, std::min(kTileCols, w.cols - c0), x + c0);
        }
        y[r] = acc;
      }
      return;
    }
    if (n_x <= 2) {
      if (static_cast<int64_t>(buf.size()) < kTileCols) buf.resize(kTileCols);
      for (int64_t r = b0 * kRowBlock; r < std::min(w.rows, b1 * kRowBlock); ++r) {
        float acc[2] = {0.0f, 0.0f};
        for (int64_t c0 = 0; c0 < w.cols; c0 += kTileCols) {
          const int64_t nc = std::min(kTileCols, w.cols - c0);
          DequantTile(w, r, c0, nc, buf.data(), fast);
          for (int64_t t = 0; t < n_x; ++t) acc[t] += Dot(buf.data(), x + t * w.cols + c0, nc, fast);
        }
        for (int64_t t = 0; t < n_x; ++t) y[t * w.rows + r] = acc[t];
      }
      return;
    }
    const size_t need = static_cast<size_t>(kRowBlock * w.cols);
    if (buf.size() < need) buf.resize(need);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * kRowBlock, r1 = std::min(w.rows, r0 + kRowBlock);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c0 = 0; c0 < w.cols; c0 += kTileCols) {
          DequantTile(w, r, c0, std::min(kTileCols, w.cols - c0), buf.data() + (r - r0) * w.cols + c0,
                      fast);
        }
      }
      for (int64_t t = 0; t < n_x; ++t) {
        const float* xt = x + t * w.cols;
        for (int64_t r = r0; r < r1; ++r) {
          const float* wr = buf.data() + (r - r0) * w.cols;
          float acc = 0.0f;
          for (int64_t c0 = 0; c0 < w.cols; c0 += kTileCols) {
            acc += Dot(wr + c0, xt + c0, std::min(kTileCols, w.cols - c0), fast);
          }
          y[t * w.rows + r] = acc;
        }
      }
    }
  };
  ParallelForOrInline(pool, n_blocks, 1, blocks);
}

}  // namespace fm::kernels::cpu
