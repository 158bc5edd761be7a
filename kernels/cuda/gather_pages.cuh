#pragma once
// Launcher of the page gather kernel (kernels/gather_pages.h). Returns the launch error.

#include <cuda_runtime_api.h>

#include "kernels/gather_pages.h"

namespace fm::kernels::cuda {

cudaError_t LaunchGatherPages(const GatherPagesParams& p, cudaStream_t stream);

}  // namespace fm::kernels::cuda
