#include "runtime/backend/cuda/sm_copy.cuh"

namespace fm::rt::cuda {
namespace {

constexpr int kThreads = 512;

// 16-byte words when source, destination and size allow it (slots and page blocks are 256-byte
// multiples, so every piece the planner makes does); bytes otherwise. Four words in flight per
// thread before the first store: over PCIe each load has microseconds of latency to hide.
__global__ void __launch_bounds__(kThreads) sm_copy_kernel(const SmCopyPiece* pieces) {
  const SmCopyPiece p = pieces[blockIdx.x];
  const uint64_t t = threadIdx.x;
  if (((p.src | p.dst | p.bytes) & 15u) == 0) {
    const int4* src = reinterpret_cast<const int4*>(p.src);
    int4* dst = reinterpret_cast<int4*>(p.dst);
    const uint64_t words = p.bytes / 16;
    uint64_t w = t;
    for (; w + 3 * kThreads < words; w += 4 * kThreads) {
      const int4 a = src[w], b = src[w + kThreads], c = src[w + 2 * kThreads],
                 d = src[w + 3 * kThreads];
      dst[w] = a;
      dst[w + kThreads] = b;
      dst[w + 2 * kThreads] = c;
      dst[w + 3 * kThreads] = d;
    }
    for (; w < words; w += kThreads) dst[w] = src[w];
  } else {
    const uint8_t* src = reinterpret_cast<const uint8_t*>(p.src);
    uint8_t* dst = reinterpret_cast<uint8_t*>(p.dst);
    for (uint64_t i = t; i < p.bytes; i += kThreads) dst[i] = src[i];
  }
}

}  // namespace

cudaError_t LaunchSmCopy(const SmCopyPiece* pieces, int64_t n_pieces, cudaStream_t stream) {
  if (n_pieces == 0) return cudaSuccess;
  if (n_pieces < 0 || n_pieces > 0x7fffffff || pieces == nullptr) return cudaErrorInvalidValue;
  sm_copy_kernel<<<static_cast<unsigned>(n_pieces), kThreads, 0, stream>>>(pieces);
  return cudaGetLastError();
}

}  // namespace fm::rt::cuda
