#pragma once
// The top-k ordering key, as __host__ __device__ functions: the CUDA TopK kernels (ops_select.cu,
// ops/topk_radix.cu) run exactly this code, and tests/backend_ops/device_codecs_test.cc checks it
// on the CPU against the CPU TopK, so the order is verified on machines without a GPU. Semantics:
// kernels/backend.h (TopKParams). The per-entry FP8 codecs the kernels share with the CPU ops are
// in kernels/fp8_entry_codecs.h.

#include <cstdint>

#include "kernels/numeric_formats.h"

namespace fm::kernels::cuda {

// Top-k order as one unsigned key: larger key = better (higher score, then lower index), so a
// radix select over keys reproduces TopKParams' order exactly. -0 and +0 compare equal, as they
// do in the CPU op. Scores must not be NaN.
FM_HD uint64_t TopKKey(float score, int32_t index) {
  uint32_t u = FloatToBits(score);
  if (u == 0x80000000u) u = 0;                     // -0 -> +0
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // monotone float -> uint32
  return (static_cast<uint64_t>(u) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(index));
}
FM_HD int32_t TopKKeyIndex(uint64_t key) {
  return static_cast<int32_t>(~static_cast<uint32_t>(key & 0xffffffffu));
}

}  // namespace fm::kernels::cuda
