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

  OpStatus Linear(const LinearParams& p) override;
  OpStatus RmsNorm(const RmsNormParams& p) override;
  OpStatus Rope(const RopeParams& p) override;
  OpStatus Hadamard(const HadamardParams& p) override;
  OpStatus HcPre(const HcPreParams& p) override;
  OpStatus HcPost(const HcPostParams& p) override;
  OpStatus SoftmaxPool(const SoftmaxPoolParams& p) override;
  OpStatus SinkAttention(const SinkAttentionParams& p) override;
  OpStatus IndexerScore(const IndexerScoreParams& p) override;
  OpStatus TopK(const TopKParams& p) override;
  OpStatus Route(const RouteParams& p) override;
  OpStatus Swiglu(const SwigluParams& p) override;
  OpStatus QuantizeKv(const KvCodecParams& p) override;
  OpStatus DequantizeKv(const KvCodecParams& p) override;
  OpStatus QuantizeIndexKey(const IndexKeyCodecParams& p) override;
  OpStatus DequantizeIndexKey(const IndexKeyCodecParams& p) override;

 private:
  ThreadPool* pool_;
};

}  // namespace fm::kernels::cpu
