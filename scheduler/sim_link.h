#pragma once
// SimLink: a CopyEngine for the CPU backend and for tests. It really moves the bytes (memcpy on a
// worker thread) and lands each batch at the time a model of the link gives (DESIGN.md §4):
//   done = max(now, link_free[dir]) + (batch_latency + Σ(per_descriptor + bytes / bandwidth))
//          × (1 + jitter),
// with one FIFO per direction. On a VirtualClock bytes land exactly when the clock passes `done`,
// so overlap and stalls are real on a CPU and deterministic in tests.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "scheduler/copy_engine.h"
#include "scheduler/sim_clock.h"

namespace fm::sched {

// Link model. Defaults: PCIe Gen5 x16 with the copy engine (research/PERF_ANCHORS.md §0.3-0.4).
struct SimLinkConfig {
  double h2d_gbps = 50.0;  // sustained copy-engine rate, pinned host -> device (1 GB/s = 1 B/ns)
  double d2h_gbps = 50.0;  // device -> pinned host
  int64_t batch_latency_ns = 2300;  // fixed cost of one submit call (cudaMemcpyAsync ≈ 2.3 µs)
  int64_t per_descriptor_ns = 500;  // per range in a batch; it, not DMA, limits small copies
  double jitter_fraction = 0.0;     // each batch's duration is scaled by 1 + U[0, jitter_fraction)
  uint64_t jitter_seed = 1;         // jitter draws follow submission order: same seed, same times
  int32_t max_descriptors_per_batch = 1 << 16;  // bounds one Submit's memory
  int32_t max_pending_batches = 1 << 14;        // bounds the queue; Submit fails beyond it

  // InvalidArgument naming the field, e.g. "SimLinkConfig.h2d_gbps: -1, expected > 0".
  absl::Status Validate() const;
};

class SimLink final : public CopyEngine {
 public:
  // `clock` must outlive the link. `host_pool` is the cold pool, `device_pool` the hot pool; both
  // must outlive the link and stay at fixed addresses.
  static absl::StatusOr<std::unique_ptr<SimLink>> Create(const SimLinkConfig& config, Clock* clock,
                                                         absl::Span<std::byte> host_pool,
                                                         absl::Span<std::byte> device_pool);
  ~SimLink() override;
  SimLink(const SimLink&) = delete;
  SimLink& operator=(const SimLink&) = delete;

  absl::StatusOr<CopyTicket> Submit(CopyDirection direction,
                                    absl::Span<const CopyRange> ranges) override;
  bool IsDone(CopyTicket ticket) override;
  absl::StatusOr<int64_t> Wait(CopyTicket ticket) override;

  // Model completion time of a submitted batch, on the link's clock (for telemetry and tests).
  // NotFound for a ticket that is not pending (never issued, or landed already).
  absl::StatusOr<int64_t> DoneNs(CopyTicket ticket);
  // Submit and modelled completion times of a pending batch on the link's clock: a fetch's latency
  // (queueing included) is done - submit, whenever the caller gets round to asking. NotFound as
  // DoneNs.
  struct BatchTiming {
    int64_t submit_ns = 0;
    int64_t done_ns = 0;
  };
  absl::StatusOr<BatchTiming> Timing(CopyTicket ticket);
  // When the direction's FIFO drains, given what has been submitted.
  int64_t LinkFreeNs(CopyDirection direction);

  struct Stats {
    int64_t batches[2] = {0, 0};
    int64_t descriptors[2] = {0, 0};
    int64_t bytes[2] = {0, 0};
    int64_t busy_ns[2] = {0, 0};  // modelled transfer time, summed
  };
  Stats stats();

 private:
  struct Batch {
    CopyDirection direction;
    uint64_t seq;
    int64_t submit_ns;
    int64_t done_ns;
    std::vector<CopyRange> ranges;
  };
  SimLink(const SimLinkConfig& config, Clock* clock, absl::Span<std::byte> host_pool,
          absl::Span<std::byte> device_pool);
  void WorkerLoop();
  // The pending batch that lands first (the earlier of the two FIFO fronts), or null. These
  // three require mu_ held.
  const Batch* NextToLand() const;
  const Batch* FindPending(CopyTicket t) const;
  double NextJitter();

  const SimLinkConfig config_;
  Clock* const clock_;
  const absl::Span<std::byte> host_pool_;
  const absl::Span<std::byte> device_pool_;
  int listener_ = 0;

  // std::mutex rather than absl::Mutex: Debian's absl is not built with ThreadSanitizer, which
  // then reports false races on it; TSan does intercept pthread mutexes (DESIGN.md §10 runs the
  // fm_sched tests under TSan). Everything below, up to worker_, is guarded by mu_.
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<Batch> pending_[2];
  uint64_t next_seq_[2] = {1, 1};
  uint64_t landed_seq_[2] = {0, 0};
  int64_t link_free_ns_[2] = {0, 0};
  uint64_t rng_state_ = 0;
  Stats stats_;
  std::thread worker_;
};

}  // namespace fm::sched
