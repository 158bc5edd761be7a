#pragma once
// CpuBackend: the fp32 reference implementation of KernelBackend (kernels/backend.h). Ops that
// work on many rows use the pool given at construction; per-query ops (attention, pooling,
// indexer scoring, top-k, routing) run on the calling thread, because their callers already
// parallelise across queries or heads. Not thread-safe for the pooled ops (one ParallelFor at a
// time, DESIGN.md §3); the per-query ops may be called concurrently.

#include "kernels/backend.h"
#include "kernels/cpu/thread_pool.h"

namespace fm::kernels::cpu {

class CpuBackend final : public KernelBackend {
 public:
  // `pool` may be null (single-threaded); it must outlive the backend.
  explicit CpuBackend(ThreadPool* pool) : pool_(pool) {}

  ThreadPool* pool() const { return pool_; }

  FM_KERNEL_BACKEND_OPS(FM_KERNEL_OP_OVERRIDE)  // the ops, listed in kernels/backend.h

 private:
  ThreadPool* pool_;
};

}  // namespace fm::kernels::cpu
