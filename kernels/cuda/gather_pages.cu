#include "kernels/cuda/gather_pages.cuh"

namespace fm::kernels::cuda {
namespace {

// One block per destination page, 16-byte words, grid-stride inside the page: pages are 37-785 KB,
// so one block per page keeps every SM busy for the page counts a cycle moves.
__global__ void gather_pages_kernel(GatherPagesParams p) {
  const int64_t page = blockIdx.x;
  const int64_t words = p.page_bytes / 16;
  const int4* src = reinterpret_cast<const int4*>(p.src + static_cast<int64_t>(p.index[page]) * p.page_bytes);
  int4* dst = reinterpret_cast<int4*>(p.dst + page * p.page_bytes);
  for (int64_t w = threadIdx.x; w < words; w += blockDim.x) dst[w] = src[w];
}

}  // namespace

cudaError_t LaunchGatherPages(const GatherPagesParams& p, cudaStream_t stream) {
  if (p.n_pages == 0) return cudaSuccess;
  if (p.page_bytes % 16 != 0 || p.n_pages > 0x7fffffff) return cudaErrorInvalidValue;
  gather_pages_kernel<<<static_cast<unsigned>(p.n_pages), 256, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace fm::kernels::cuda
