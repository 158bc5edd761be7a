#pragma once
// CudaCopyEngine: sched::CopyEngine on a GPU (DESIGN.md §4-§5). One non-blocking stream per
// direction (prefetch H2D, offload D2H), one event recorded after each submitted batch, so tickets
// of one direction complete in FIFO order. IsDone polls the batch's event (cudaEventQuery, never
// blocks); Wait blocks in cudaEventSynchronize through blocking.h (reason copy_wait) and returns
// the host time waited. Batches go out as one cudaMemcpyBatchAsync (per-range cudaMemcpyAsync
// when the driver lacks it), or through the SM-copy kernel when that path is chosen.
// Thread-safe: the planner submits while the engine thread polls and waits.

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/backend/cuda/copy_batching.h"
#include "runtime/backend/cuda/pools.h"
#include "runtime/backend/cuda/sm_copy.cuh"
#include "runtime/backend/cuda/ticket_ledger.h"
#include "scheduler/copy_engine.h"

namespace fm::rt::cuda {

struct CudaCopyEngineConfig {
  CopyPathPreference path = CopyPathPreference::kAuto;
  int32_t max_pending_batches = 64;         // per direction: events in the ring
  int32_t max_ranges_per_batch = 1 << 16;   // bounds one Submit
  int32_t max_descriptors_per_call = 4096;  // one cudaMemcpyBatchAsync call at most
  // InvalidArgument naming the field, e.g. "CudaCopyEngineConfig.max_pending_batches: 0, ...".
  absl::Status Validate() const;
};

class CudaCopyEngine final : public sched::CopyEngine {
 public:
  // The pools must outlive the engine. Creates the streams and events on the current device.
  static absl::StatusOr<std::unique_ptr<CudaCopyEngine>> Create(const CudaCopyEngineConfig& config,
                                                                PinnedColdPool* cold,
                                                                DeviceHotPool* hot);
  ~CudaCopyEngine() override;  // drains both streams (blocking reason: shutdown)
  CudaCopyEngine(const CudaCopyEngine&) = delete;
  CudaCopyEngine& operator=(const CudaCopyEngine&) = delete;

  absl::StatusOr<sched::CopyTicket> Submit(sched::CopyDirection direction,
                                           absl::Span<const sched::CopyRange> ranges) override;
  bool IsDone(sched::CopyTicket ticket) override;
  absl::StatusOr<int64_t> Wait(sched::CopyTicket ticket) override;

  // Copy-before-publish on the GPU: `stream` (the compute stream) waits for batch `ticket` before
  // its later work, with no host wait. Enqueues nothing when the batch is known to have landed.
  // InvalidArgument for a ticket never issued.
  absl::Status StreamWaitFor(sched::CopyTicket ticket, cudaStream_t stream);
  // Later batches of `direction` wait for `event` on the GPU (slot reuse waits on E_publish,
  // DESIGN.md §5 invariant 3). The event must have been recorded before this call.
  absl::Status CopiesWaitFor(sched::CopyDirection direction, cudaEvent_t event);

  cudaStream_t stream(sched::CopyDirection d) const { return streams_[static_cast<int>(d)]; }
  CopyPath path() const { return path_.load(); }

  struct Stats {
    int64_t batches[2] = {0, 0};
    int64_t pieces[2] = {0, 0};
    int64_t bytes[2] = {0, 0};
    int64_t api_calls[2] = {0, 0};  // CUDA submission calls (batch calls, memcpys or launches)
  };
  Stats stats();

 private:
  CudaCopyEngine(const CudaCopyEngineConfig& config, PinnedColdPool* cold, DeviceHotPool* hot);
  absl::Status Init();
  // Frees the oldest slots of `d` whose batches have landed (cudaEventQuery). Requires mu_.
  void RetireLanded(sched::CopyDirection d);
  // Enqueues descriptors_ on the stream of `d` by `path`, adding the CUDA calls made to *calls.
  // Requires submit_mu_.
  absl::Status Enqueue(sched::CopyDirection d, int32_t slot, CopyPath path, int64_t* calls);
  absl::Status EnqueueSmCopy(sched::CopyDirection d, int32_t slot, int64_t* calls);
  cudaEvent_t event(sched::CopyDirection d, int32_t slot) const {
    return events_[static_cast<int>(d)][static_cast<size_t>(slot)];
  }

  const CudaCopyEngineConfig config_;
  PinnedColdPool* const cold_;
  DeviceHotPool* const hot_;
  std::atomic<CopyPath> path_{CopyPath::kCopyEngineBatch};  // may fall back once, never back
  cudaStream_t streams_[2] = {nullptr, nullptr};
  std::vector<cudaEvent_t> events_[2];

  // std::mutex as in SimLink (TSan sees pthread mutexes; Debian's absl is not instrumented).
  // submit_mu_ serialises submissions (stream order = seq order) and guards the scratch and piece
  // tables below; mu_ guards ledger_ and stats_ and is held only briefly, never across a
  // submission, so polling from the engine thread does not wait for the planner.
  std::mutex submit_mu_;
  std::mutex mu_;
  TicketLedger ledger_;
  Stats stats_;
  // Scratch of one Submit, reused (guarded by submit_mu_).
  std::vector<sched::CopyRange> pieces_;
  CopyDescriptors descriptors_;
  // SM path: per event slot, a mapped pinned table of pieces the kernel reads. A slot's table is
  // rewritten only when its previous batch has landed, which the ledger guarantees.
  struct PieceTable {
    SmCopyPiece* host = nullptr;
    int64_t capacity = 0;
  };
  std::vector<PieceTable> piece_tables_[2];
};

}  // namespace fm::rt::cuda
