#pragma once
// The one CUDA-check macro for host code: turns a cudaError_t into an absl::Status naming the call,
// the place and the CUDA error (DESIGN.md §9: Internal). .cu files return cudaError_t and never
// include this header.

#include <cuda_runtime_api.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace fm::kernels {

inline absl::Status CudaError(cudaError_t e, const char* call, const char* file, int line) {
  return absl::InternalError(absl::StrFormat("%s at %s:%d: %s: %s", call, file, line,
                                             cudaGetErrorName(e), cudaGetErrorString(e)));
}

}  // namespace fm::kernels

#define FM_CUDA_RETURN_IF_ERROR(call)                                          \
  do {                                                                         \
    if (cudaError_t fm_e_ = (call); fm_e_ != cudaSuccess)                      \
      return ::fm::kernels::CudaError(fm_e_, #call, __FILE__, __LINE__);       \
  } while (false)
