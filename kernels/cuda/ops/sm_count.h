#pragma once
// The current device's multiprocessor count, for the launch plans (linear_plan.h, topk_plan.h),
// asked once per device and cached (thread-safe).
// A host-side attribute query: no stream work, no sync, legal during graph capture.

#include <cuda_runtime_api.h>

namespace fm::kernels::cuda {

cudaError_t CurrentDeviceSmCount(int* sm_count);

}  // namespace fm::kernels::cuda
