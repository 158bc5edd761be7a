#pragma once
// Device buffers for the gpu tests: an owning pointer freed with cudaFree, filled from host bytes
// or poisoned, and read back after the device finished. Test-only (EXPECTs on CUDA errors).

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace fm::kernels::test_util {

struct CudaFree {
  void operator()(void* p) const { cudaFree(p); }
};
using DeviceBytes = std::unique_ptr<uint8_t, CudaFree>;

// A device buffer of `n` bytes (at least 1, so empty inputs still get a valid pointer) holding a
// copy of `bytes`, or 0xff everywhere (NaN floats, -1 ints: unwritten outputs show) when null.
inline DeviceBytes Upload(const void* bytes, size_t n) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, n + 1), cudaSuccess);
  if (bytes != nullptr && n > 0) {
    EXPECT_EQ(cudaMemcpy(p, bytes, n, cudaMemcpyHostToDevice), cudaSuccess);
  } else {
    EXPECT_EQ(cudaMemset(p, 0xff, n + 1), cudaSuccess);
  }
  return DeviceBytes(static_cast<uint8_t*>(p));
}

template <typename T>
DeviceBytes Upload(const std::vector<T>& v) {
  return Upload(v.data(), v.size() * sizeof(T));
}

// `n` elements of T from `d` once the device is idle.
template <typename T>
std::vector<T> Download(const DeviceBytes& d, size_t n) {
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<T> out(n);
  EXPECT_EQ(cudaMemcpy(out.data(), d.get(), n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
  return out;
}

template <typename T>
T* As(const DeviceBytes& d) {
  return reinterpret_cast<T*>(d.get());
}

}  // namespace fm::kernels::test_util
