#pragma once
// fp32 CPU references of the MoE ops of kernels/backend.h: expert routing (hash or biased top-k,
// renormalised, scaled) and the clamped SwiGLU.

#include "kernels/backend.h"
#include "kernels/cpu/thread_pool.h"

namespace fm::kernels::cpu {

OpStatus Route(const RouteParams& p);
OpStatus Swiglu(const SwigluParams& p, ThreadPool* pool);

}  // namespace fm::kernels::cpu
