#pragma once
// The phases of one block of the Linear GEMM (linear_gemm.cu), as __host__ __device__ code: the
// kernel runs them with __syncthreads() between phases, and
// tests/backend_ops/cuda_gemm_tile_test.cc runs the very same functions on the CPU, all 256
// "threads" of a block phase by phase, against the CPU Linear. So the tile arithmetic, the weight
// decoding (shared decoders of kernels/numeric_formats.h, the same the CPU's DequantRow uses) and
// every edge guard are checked on machines without a GPU.
//
// Block: 256 threads as 16 x 16, a kTile x kTile output tile, each thread a (kTile/16)^2
// micro-tile. K advances in stages of kGemmDepth (32) columns: each thread loads kChunk = kTile/8
// consecutive columns of one x row and of one W row into registers (the kernel issues the next
// stage's loads before computing the current one), then stores them transposed ([k][row], rows
// padded by 4 floats so 16-byte reads stay aligned) into shared memory.

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cuda/ops/linear_plan.h"
#include "kernels/numeric_formats.h"
#include "kernels/weight_view.h"

#if defined(__CUDACC__)
#define FM_HD_INLINE __host__ __device__ __forceinline__
#else
#define FM_HD_INLINE inline
#endif
// Fixed-trip loops unrolled on the device (register arrays must only see constant indices); the
// host compilers know no such pragma.
#if defined(__CUDA_ARCH__)
#define FM_UNROLL _Pragma("unroll")
#else
#define FM_UNROLL
#endif

namespace fm::kernels::cuda {

// Word types of the vector loads (16, 8, 4, 2 bytes). Aligned structs, so device code loads each
// with one instruction.
struct alignas(16) Floats4 {
  float v[4];
};
struct alignas(8) Words2 {
  uint32_t v[2];
};

// One aligned load of a T: a plain (vector) load on the device, memcpy on the host.
template <typename T>
FM_HD_INLINE T LoadWord(const void* p) {
#if defined(__CUDA_ARCH__)
  return *reinterpret_cast<const T*>(p);
#else
  T v;
  memcpy(&v, p, sizeof(T));
  return v;
#endif
}

// The scale that multiplies weight (row, col) (1 for the unscaled formats). For the scaled formats
// all columns of a 32-aligned group of 32 share it.
template <WeightFormat F>
FM_HD_INLINE float WeightScale(const WeightView& w, int64_t row, int64_t col) {
  if constexpr (F == WeightFormat::kFP8Block128) {
    return E8m0ToFloat(w.scale[(row / 128) * w.scale_cols + col / 128]);
  } else if constexpr (F == WeightFormat::kMXFP4) {
    return E8m0ToFloat(w.scale[row * w.scale_cols + col / 32]);
  } else {
    return 1.0f;
  }
}

// Unscaled weight (row, col) by a scalar load: the path for unaligned views and ragged columns.
template <WeightFormat F>
FM_HD_INLINE float WeightCode(const WeightView& w, int64_t row, int64_t col) {
  const int64_t i = row * w.cols + col;
  if constexpr (F == WeightFormat::kF32) {
    return static_cast<const float*>(w.data)[i];
  } else if constexpr (F == WeightFormat::kBF16) {
    return Bf16ToFloat(static_cast<const uint16_t*>(w.data)[i]);
  } else if constexpr (F == WeightFormat::kF16) {
    return F16ToFloat(static_cast<const uint16_t*>(w.data)[i]);
  } else if constexpr (F == WeightFormat::kFP8Block128) {
    return E4m3ToFloat(static_cast<const uint8_t*>(w.data)[i]);
  } else {
    const uint8_t b = static_cast<const uint8_t*>(w.data)[i / 2];
    return E2m1ToFloat((i & 1) ? static_cast<uint8_t>(b >> 4) : static_cast<uint8_t>(b & 0xfu));
  }
}

// Unscaled weights (row, col .. col+3) by one vector load. Requires col % 4 == 0, cols % 4 == 0 and
// a 16-byte aligned w.data, so the load is 16 (F32), 8 (BF16/F16), 4 (FP8) or 2 (MXFP4) bytes
// aligned.
template <WeightFormat F>
FM_HD_INLINE void WeightCodes4(const WeightView& w, int64_t row, int64_t col, float out[4]) {
  const int64_t i = row * w.cols + col;
  if constexpr (F == WeightFormat::kF32) {
    const Floats4 v = LoadWord<Floats4>(static_cast<const float*>(w.data) + i);
    FM_UNROLL
    for (int c = 0; c < 4; ++c) out[c] = v.v[c];
  } else if constexpr (F == WeightFormat::kBF16 || F == WeightFormat::kF16) {
    const Words2 v = LoadWord<Words2>(static_cast<const uint16_t*>(w.data) + i);
    FM_UNROLL
    for (int c = 0; c < 4; ++c) {
      // Little-endian: the lower half of each word is the earlier column.
      const uint16_t h = static_cast<uint16_t>(v.v[c / 2] >> (16 * (c % 2)));
      out[c] = F == WeightFormat::kBF16 ? Bf16ToFloat(h) : F16ToFloat(h);
    }
  } else if constexpr (F == WeightFormat::kFP8Block128) {
    const uint32_t v = LoadWord<uint32_t>(static_cast<const uint8_t*>(w.data) + i);
    FM_UNROLL
    for (int c = 0; c < 4; ++c) out[c] = E4m3ToFloat(static_cast<uint8_t>(v >> (8 * c)));
  } else {
    // Two bytes, low nibble first: columns col, col+1 (byte 0), col+2, col+3 (byte 1).
    const uint16_t v = LoadWord<uint16_t>(static_cast<const uint8_t*>(w.data) + i / 2);
    FM_UNROLL
    for (int c = 0; c < 4; ++c) out[c] = E2m1ToFloat(static_cast<uint8_t>((v >> (4 * c)) & 0xfu));
  }
}

// kChunk (a multiple of 4) weights of `row` from column `col` (col % 4 == 0 and, for the scaled
// formats, the chunk inside one scale group), decoded and scaled; zeros past the matrix edge so a
// partial tile contributes nothing.
template <WeightFormat F, int kChunk>
FM_HD_INLINE void LoadWeightChunk(const WeightView& w, int64_t row, int64_t col, bool vector_loads,
                                  float out[kChunk]) {
  if (row >= w.rows || col >= w.cols) {
    FM_UNROLL
    for (int c = 0; c < kChunk; ++c) out[c] = 0.0f;
    return;
  }
  if (vector_loads) {  // cols % 4 == 0: each group of 4 is wholly inside or outside the row
    FM_UNROLL
    for (int g = 0; g < kChunk / 4; ++g) {
      if (col + 4 * g < w.cols) {
        WeightCodes4<F>(w, row, col + 4 * g, out + 4 * g);
      } else {
        FM_UNROLL
        for (int c = 0; c < 4; ++c) out[4 * g + c] = 0.0f;
      }
    }
  } else {
    FM_UNROLL
    for (int c = 0; c < kChunk; ++c)
      out[c] = col + c < w.cols ? WeightCode<F>(w, row, col + c) : 0.0f;
  }
  if constexpr (F == WeightFormat::kFP8Block128 || F == WeightFormat::kMXFP4) {
    const float s = WeightScale<F>(w, row, col);
    FM_UNROLL
    for (int c = 0; c < kChunk; ++c) out[c] *= s;
  }
}

// kChunk activations x[row][col ..] (zeros past the edges), 16-byte loads when vector_loads.
template <int kChunk>
FM_HD_INLINE void LoadActivationChunk(const float* x, int64_t n_rows, int64_t cols, int64_t row,
                                      int64_t col, bool vector_loads, float out[kChunk]) {
  if (row >= n_rows) {
    FM_UNROLL
    for (int c = 0; c < kChunk; ++c) out[c] = 0.0f;
    return;
  }
  const float* p = x + row * cols + col;
  if (vector_loads) {
    FM_UNROLL
    for (int g = 0; g < kChunk / 4; ++g) {
      if (col + 4 * g < cols) {
        const Floats4 v = LoadWord<Floats4>(p + 4 * g);
        FM_UNROLL
        for (int c = 0; c < 4; ++c) out[4 * g + c] = v.v[c];
      } else {
        FM_UNROLL
        for (int c = 0; c < 4; ++c) out[4 * g + c] = 0.0f;
      }
    }
  } else {
    FM_UNROLL
    for (int c = 0; c < kChunk; ++c) out[c] = col + c < cols ? p[c] : 0.0f;
  }
}

template <WeightFormat F, int kTile>
struct GemmTile {
  static constexpr int kMicro = kTile / 16;                         // outputs per thread, each way
  static constexpr int kChunk = kTile * kGemmDepth / kGemmThreads;  // columns loaded per stage
  static constexpr int kLoadersPerRow = kGemmDepth / kChunk;
  static constexpr int kPad = 4;
  static_assert(kChunk % 4 == 0 && kLoadersPerRow * kTile == kGemmThreads, "tile geometry");
  static_assert(kMicro == 2 || kMicro % 4 == 0, "micro-tile rows are read as 8 or 16 bytes");

  struct Shared {
    alignas(16) float xs[kGemmDepth][kTile + kPad];  // x tile, transposed: [k][token]
    alignas(16) float ws[kGemmDepth][kTile + kPad];  // W tile, transposed: [k][output row]
  };
  // One thread's registers: the next stage's loads and its accumulators.
  struct Thread {
    float xr[kChunk], wr[kChunk];
    float acc[kMicro][kMicro];
  };

  FM_HD_INLINE static void Clear(Thread& t) {
    FM_UNROLL
    for (int i = 0; i < kMicro; ++i) {
      FM_UNROLL
      for (int j = 0; j < kMicro; ++j) t.acc[i][j] = 0.0f;
    }
  }

  // Block (n0, m0) = first output row of W and first token of the tile; k0 = the stage's column.
  FM_HD_INLINE static void Load(const WeightView& w, const float* x, int64_t n_x, bool vector_loads,
                                int tid, int64_t n0, int64_t m0, int64_t k0, Thread& t) {
    const int row = tid / kLoadersPerRow, col = (tid % kLoadersPerRow) * kChunk;
    LoadActivationChunk<kChunk>(x, n_x, w.cols, m0 + row, k0 + col, vector_loads, t.xr);
    LoadWeightChunk<F, kChunk>(w, n0 + row, k0 + col, vector_loads, t.wr);
  }

  FM_HD_INLINE static void Store(int tid, const Thread& t, Shared& s) {
    const int row = tid / kLoadersPerRow, col = (tid % kLoadersPerRow) * kChunk;
    FM_UNROLL
    for (int c = 0; c < kChunk; ++c) {
      s.xs[col + c][row] = t.xr[c];
      s.ws[col + c][row] = t.wr[c];
    }
  }

  FM_HD_INLINE static void ReadRow(const float* p, float out[kMicro]) {
    if constexpr (kMicro == 2) {
      const Words2 v = LoadWord<Words2>(p);
      out[0] = BitsToFloat(v.v[0]);
      out[1] = BitsToFloat(v.v[1]);
    } else {
      FM_UNROLL
      for (int q = 0; q < kMicro / 4; ++q) {
        const Floats4 v = LoadWord<Floats4>(p + 4 * q);
        FM_UNROLL
        for (int c = 0; c < 4; ++c) out[4 * q + c] = v.v[c];
      }
    }
  }

  // The stage's FMAs: fp32, over the stage's columns in order.
  FM_HD_INLINE static void Compute(int tid, const Shared& s, Thread& t) {
    const int tx = tid % 16, ty = tid / 16;
    FM_UNROLL
    for (int k = 0; k < kGemmDepth; ++k) {
      float a[kMicro], b[kMicro];
      ReadRow(&s.xs[k][ty * kMicro], a);
      ReadRow(&s.ws[k][tx * kMicro], b);
      FM_UNROLL
      for (int i = 0; i < kMicro; ++i) {
        FM_UNROLL
        for (int j = 0; j < kMicro; ++j) t.acc[i][j] = fmaf(a[i], b[j], t.acc[i][j]);
      }
    }
  }

  FM_HD_INLINE static void Write(int tid, const Thread& t, int64_t n_x, int64_t rows, int64_t n0,
                                 int64_t m0, float* y) {
    const int tx = tid % 16, ty = tid / 16;
    FM_UNROLL
    for (int i = 0; i < kMicro; ++i) {
      const int64_t m = m0 + ty * kMicro + i;
      if (m >= n_x) break;
      FM_UNROLL
      for (int j = 0; j < kMicro; ++j) {
        const int64_t n = n0 + tx * kMicro + j;
        if (n < rows) y[m * rows + n] = t.acc[i][j];
      }
    }
  }
};

}  // namespace fm::kernels::cuda
