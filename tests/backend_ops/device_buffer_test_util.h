#pragma once
// What every gpu test of tests/backend_ops shares: the fixture base that skips without a CUDA
// device, and device buffers (an owning pointer freed with cudaFree, filled from host bytes or
// poisoned, read back after the device finished). Test-only (EXPECTs on CUDA errors).

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cuda/device.h"

namespace fm::kernels::test_util {

// Base of the gpu test fixtures (Base: ::testing::Test or a ::testing::TestWithParam<...>): skips
// each test, printing FM_GPU_SKIPPED for ctest (the gpu label's skip rule,
// cmake/FlashmemTesting.cmake), when no CUDA device is present.
template <typename Base = ::testing::Test>
class CudaDeviceTest : public Base {
 protected:
  void SetUp() override {
    auto dev = FirstCudaDevice();
    if (!dev.ok()) {
      std::printf("FM_GPU_SKIPPED: %s\n", std::string(dev.status().message()).c_str());
      GTEST_SKIP() << dev.status();
    }
  }
};

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

// A typed device buffer of n elements: a copy of a host vector, or poisoned (0xff bytes); Read()
// brings it back once the device is idle.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(const std::vector<T>& host) : n_(host.size()), bytes_(Upload(host)) {}
  explicit DeviceArray(size_t n) : n_(n), bytes_(Upload(nullptr, n * sizeof(T))) {}
  T* get() const { return reinterpret_cast<T*>(bytes_.get()); }
  std::vector<T> Read() const { return Download<T>(bytes_, n_); }

 private:
  size_t n_;
  DeviceBytes bytes_;
};

}  // namespace fm::kernels::test_util
