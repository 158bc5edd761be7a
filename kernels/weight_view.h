#pragma once
// A non-owning view of one weight matrix in the format it is stored in (no dequantised copy).
// Shared by the CPU and CUDA backends: plain C++, raw pointers, no absl, no STL containers, so that
// .cu files can include it.

#include <cstdint>

namespace fm::kernels {

enum class WeightFormat : uint8_t {
  kF32 = 0,
  kBF16 = 1,
  kF16 = 2,
  kFP8Block128 = 3,  // e4m3 "fn" bytes + ue8m0 scale per 128x128 block: [ceil(rows/128), ceil(cols/128)]
  kMXFP4 = 4,        // e2m1 codes, 2 per byte (low nibble = even column) + e8m0 scale per 32 columns
};

// Logical shape is [rows, cols] = [out, in]; y = W x. Row-major.
struct WeightView {
  WeightFormat format = WeightFormat::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;      // F32/BF16/F16: rows*cols elements; FP8: rows*cols bytes;
                                   // MXFP4: rows*cols/2 bytes
  const uint8_t* scale = nullptr;  // FP8: [ceil(rows/128)][scale_cols]; MXFP4: [rows][scale_cols]
  int64_t scale_cols = 0;          // row stride of `scale` in bytes (= number of scale columns)

  // Bytes the weight (plus scales) occupies: what one GEMV must stream from memory.
  int64_t StoredBytes() const {
    switch (format) {
      case WeightFormat::kF32: return rows * cols * 4;
      case WeightFormat::kBF16:
      case WeightFormat::kF16: return rows * cols * 2;
      case WeightFormat::kFP8Block128: return rows * cols + ((rows + 127) / 128) * scale_cols;
      case WeightFormat::kMXFP4: return rows * cols / 2 + rows * scale_cols;
    }
    return 0;
  }
};

}  // namespace fm::kernels
