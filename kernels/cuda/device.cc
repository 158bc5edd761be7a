#include "kernels/cuda/device.h"

#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_status.h"

namespace fm::kernels {

absl::StatusOr<CudaDeviceInfo> FirstCudaDevice() {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();  // clear the sticky "no device" error
    return absl::UnavailableError(
        absl::StrFormat("no CUDA device (%s)", e == cudaSuccess ? "0 devices" : cudaGetErrorName(e)));
  }
  cudaDeviceProp prop;
  FM_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, 0));
  CudaDeviceInfo info;
  info.ordinal = 0;
  info.name = prop.name;
  info.sm_major = prop.major;
  info.sm_minor = prop.minor;
  info.copy_engines = prop.asyncEngineCount;
  info.global_memory_bytes = static_cast<long long>(prop.totalGlobalMem);
  return info;
}

}  // namespace fm::kernels
