#pragma once
// Device discovery for the CUDA backend and the gpu-labelled tests.

#include <string>

#include "absl/status/statusor.h"

namespace fm::kernels {

struct CudaDeviceInfo {
  int ordinal = 0;
  std::string name;
  int sm_major = 0, sm_minor = 0;
  int copy_engines = 0;
  long long global_memory_bytes = 0;
};

// The first CUDA device, or Unavailable when there is none (no driver, no GPU): callers on CPU-only
// machines fall back to the CPU backend, and gpu tests skip.
absl::StatusOr<CudaDeviceInfo> FirstCudaDevice();

}  // namespace fm::kernels
