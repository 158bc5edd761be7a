#pragma once
// fp32 CPU references of the element-wise / per-row ops of kernels/backend.h: RMSNorm, rotary
// embedding (plain and YaRN frequency tables), Walsh-Hadamard transform.

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/thread_pool.h"

namespace fm::kernels::cpu {

// See RmsNormParams. pool may be null.
OpStatus RmsNorm(const RmsNormParams& p, ThreadPool* pool);

// See RopeParams.
OpStatus Rope(const RopeParams& p, ThreadPool* pool);

// See HadamardParams.
OpStatus Hadamard(const HadamardParams& p, ThreadPool* pool);

// Rotary inverse frequencies for `n_pairs` = rope_dims/2 pairs, computed in fp32 the way the
// DeepSeek-V4 reference does: f_i = 1 / base^(2i / rope_dims). When original_seq_len > 0 (YaRN),
// frequencies are blended with f_i / factor by a linear ramp between the correction dims of
// beta_fast and beta_slow: f_i' = f_i / factor * (1 - s_i) + f_i * s_i, s_i = 1 - ramp_i.
void ComputeRopeInvFreq(int64_t rope_dims, double base, int64_t original_seq_len, double factor,
                        double beta_fast, double beta_slow, float* inv_freq);

}  // namespace fm::kernels::cpu
