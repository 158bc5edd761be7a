#pragma once
// fp32 CPU references of the manifold-constrained hyper-connection (mHC) mixes: the pre-mix with
// its Sinkhorn-projected combination matrix, and the post-mix (kernels/backend.h HcPreParams,
// HcPostParams).

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/thread_pool.h"

namespace fm::kernels::cpu {

OpStatus HcPre(const HcPreParams& p, ThreadPool* pool);
OpStatus HcPost(const HcPostParams& p, ThreadPool* pool);

// Projects the n x n logits `c` (row-major, in place) towards a doubly-stochastic matrix: row
// softmax + eps, column normalise, then (iters - 1) rounds of row then column normalisation,
// each dividing by (sum + eps). Exposed for tests.
void SinkhornProject(float* c, int64_t n, int64_t iters, float eps);

}  // namespace fm::kernels::cpu
