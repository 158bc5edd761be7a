#pragma once
// One digit of the radix select of topk_radix.cu as __host__ __device__ code, so the CPU test
// (tests/backend_ops/cuda_topk_radix_step_test.cc) runs the same selection over all passes against
// the CPU TopK.

#include <cstdint>

#include "kernels/numeric_formats.h"

namespace fm::kernels::cuda {

// `hist[d]`: how many keys that match the digits chosen so far (`*prefix` under `*mask`) have digit
// d at bits [shift, shift + 8). The remaining-th largest of them (1-based) has the largest digit
// whose count, with the counts of all larger digits, reaches `remaining`. Appends that digit to
// prefix/mask and returns the rank of the sought key among the keys with that digit.
FM_HD uint32_t RadixSelectDigit(const uint32_t hist[256], uint32_t remaining, int shift,
                                uint64_t* prefix, uint64_t* mask) {
  uint32_t above = 0;
  int digit = 255;
  for (; digit > 0 && above + hist[digit] < remaining; --digit) above += hist[digit];
  *prefix |= static_cast<uint64_t>(digit) << shift;
  *mask |= uint64_t{255} << shift;
  return remaining - above;
}

}  // namespace fm::kernels::cuda
