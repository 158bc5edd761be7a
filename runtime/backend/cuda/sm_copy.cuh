#pragma once
// The SM-copy variant of the copy engine: one kernel copies every piece of a batch with thread
// blocks instead of the copy engine (DMA). Pinned host memory is mapped, so the kernel reads (H2D)
// or writes (D2H) host pages directly over PCIe. It exists to be compared with the copy engine in
// `flashmem bench pcie`; the decode path uses the copy engine, which leaves the SMs to compute.

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fm::rt::cuda {

// One piece: device-visible addresses (UVA: a mapped pinned pointer is valid on the device).
struct SmCopyPiece {
  uint64_t src = 0;
  uint64_t dst = 0;
  uint64_t bytes = 0;
};

// Copies pieces[0, n_pieces), one thread block per piece. `pieces` itself must be readable by the
// device (device memory or mapped pinned memory) until the kernel has run.
cudaError_t LaunchSmCopy(const SmCopyPiece* pieces, int64_t n_pieces, cudaStream_t stream);

}  // namespace fm::rt::cuda
