#include "runtime/backend/cuda/cuda_copy_engine.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "kernels/cuda/cuda_status.h"
#include "runtime/backend/cuda/blocking.h"
#include "traces/zone.h"

namespace fm::rt::cuda {
namespace {

int Dir(sched::CopyDirection d) { return static_cast<int>(d); }

bool BatchApiMissing(cudaError_t e) {
  return e == cudaErrorNotSupported || e == cudaErrorCallRequiresNewerDriver;
}

}  // namespace

absl::Status CudaCopyEngineConfig::Validate() const {
  auto bad = [](const char* field, int64_t v) {
    return absl::InvalidArgumentError(
        absl::StrFormat("CudaCopyEngineConfig.%s: %d, expected > 0", field, v));
  };
  if (max_pending_batches <= 0) return bad("max_pending_batches", max_pending_batches);
  if (max_ranges_per_batch <= 0) return bad("max_ranges_per_batch", max_ranges_per_batch);
  if (max_descriptors_per_call <= 0)
    return bad("max_descriptors_per_call", max_descriptors_per_call);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CudaCopyEngine>> CudaCopyEngine::Create(
    const CudaCopyEngineConfig& config, PinnedColdPool* cold, DeviceHotPool* hot) {
  FM_RETURN_IF_ERROR(config.Validate());
  if (cold == nullptr || hot == nullptr) {
    return absl::InvalidArgumentError("CudaCopyEngine: cold and hot pools are required");
  }
  std::unique_ptr<CudaCopyEngine> engine(new CudaCopyEngine(config, cold, hot));
  FM_RETURN_IF_ERROR(engine->Init());
  return engine;
}

CudaCopyEngine::CudaCopyEngine(const CudaCopyEngineConfig& config, PinnedColdPool* cold,
                               DeviceHotPool* hot)
    : config_(config), cold_(cold), hot_(hot), ledger_(config.max_pending_batches) {}

absl::Status CudaCopyEngine::Init() {
  path_ = ChooseCopyPath(config_.path, /*batch_api_available=*/true);
  if (path_.load() == CopyPath::kSmKernel) {
    int device = 0, uva = 0;
    FM_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
    FM_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&uva, cudaDevAttrUnifiedAddressing, device));
    if (!uva) {
      return absl::FailedPreconditionError(
          "CudaCopyEngine: the SM-copy path needs unified addressing (mapped pinned pointers)");
    }
  }
  for (int d = 0; d < 2; ++d) {
    FM_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&streams_[d], cudaStreamNonBlocking));
    events_[d].assign(static_cast<size_t>(ledger_.capacity()), nullptr);
    for (cudaEvent_t& e : events_[d]) {
      FM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    }
    piece_tables_[d].assign(static_cast<size_t>(ledger_.capacity()), PieceTable{});
  }
  return absl::OkStatus();
}

CudaCopyEngine::~CudaCopyEngine() {
  for (int d = 0; d < 2; ++d) {
    if (streams_[d] != nullptr) {
      BlockingStreamSynchronize(streams_[d], BlockingReason::kShutdown);
      cudaStreamDestroy(streams_[d]);
    }
    for (cudaEvent_t e : events_[d]) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    for (PieceTable& t : piece_tables_[d]) {
      if (t.host != nullptr) cudaFreeHost(t.host);
    }
  }
}

void CudaCopyEngine::RetireLanded(sched::CopyDirection d) {
  sched::CopyTicket oldest;
  while (ledger_.OldestPending(d, &oldest)) {
    const TicketLedger::Lookup l = ledger_.Find(oldest);
    if (cudaEventQuery(event(d, l.slot)) != cudaSuccess) break;
    ledger_.MarkDone(oldest);
  }
  cudaGetLastError();  // a not-ready query leaves no sticky error, but clear it all the same
}

absl::StatusOr<sched::CopyTicket> CudaCopyEngine::Submit(
    sched::CopyDirection direction, absl::Span<const sched::CopyRange> ranges) {
  FM_ZONE("copy.submit", ranges.size());  // NVTX range too: submission cost in Nsight Systems
  const bool h2d = direction == sched::CopyDirection::kHostToDevice;
  const PoolAddressing cold = cold_->addressing(), hot = hot_->addressing();
  const PoolAddressing& src = h2d ? cold : hot;
  const PoolAddressing& dst = h2d ? hot : cold;
  FM_RETURN_IF_ERROR(ValidateRanges(direction, ranges, src.total_bytes, dst.total_bytes,
                                    config_.max_ranges_per_batch));
  // One submission at a time keeps each stream's order equal to seq order; the CUDA calls run
  // outside mu_, so the engine thread's IsDone never waits behind a long submission.
  std::lock_guard<std::mutex> submit_lock(submit_mu_);
  TicketLedger::Reservation r;
  {
    std::lock_guard<std::mutex> lock(mu_);
    absl::StatusOr<TicketLedger::Reservation> reserved = ledger_.Reserve(direction);
    if (!reserved.ok()) {
      RetireLanded(direction);
      reserved = ledger_.Reserve(direction);
      if (!reserved.ok()) return reserved.status();
    }
    r = *reserved;  // not visible to Find until Issue: nobody queries its event meanwhile
  }
  const CopyPath path = path_.load();
  pieces_.clear();
  SplitRanges(ranges, src.chunk_bytes, dst.chunk_bytes, MaxPieceBytes(path), &pieces_);
  BuildDescriptors(pieces_, src, dst, &descriptors_);
  int64_t calls = 0;
  FM_RETURN_IF_ERROR(Enqueue(direction, r.slot, path, &calls));
  FM_CUDA_RETURN_IF_ERROR(cudaEventRecord(event(direction, r.slot), streams_[Dir(direction)]));
  std::lock_guard<std::mutex> lock(mu_);
  const int d = Dir(direction);
  stats_.batches[d] += 1;
  stats_.pieces[d] += static_cast<int64_t>(pieces_.size());
  for (const sched::CopyRange& p : pieces_) stats_.bytes[d] += p.bytes;
  stats_.api_calls[d] += calls;
  return ledger_.Issue(direction, r);
}

absl::Status CudaCopyEngine::Enqueue(sched::CopyDirection d, int32_t slot, CopyPath path,
                                     int64_t* calls) {
  cudaStream_t s = streams_[Dir(d)];
  const size_t n = descriptors_.bytes.size();
  if (path == CopyPath::kSmKernel) return EnqueueSmCopy(d, slot, calls);
  if (path == CopyPath::kCopyEngineBatch) {
    // Stream-ordered source access: the cold page may have been written by an earlier D2H on
    // another stream that this one was made to wait for.
    cudaMemcpyAttributes attr = {};
    attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
    attr.flags = cudaMemcpyFlagPreferOverlapWithCompute;
    size_t attr_index = 0;
    for (size_t i = 0; i < n; i += static_cast<size_t>(config_.max_descriptors_per_call)) {
      const size_t count = std::min(n - i, static_cast<size_t>(config_.max_descriptors_per_call));
      const cudaError_t e =
          cudaMemcpyBatchAsync(descriptors_.dst.data() + i, descriptors_.src.data() + i,
                               descriptors_.bytes.data() + i, count, &attr, &attr_index, 1, s);
      if (e == cudaSuccess) {
        ++*calls;
        continue;
      }
      cudaGetLastError();
      // Only before anything of this batch went out may the batch switch paths: descriptors
      // [0, i) were enqueued already and must not be copied twice.
      if (!BatchApiMissing(e) || i != 0) {
        return kernels::CudaError(e, "cudaMemcpyBatchAsync", __FILE__, __LINE__);
      }
      path_ = path = CopyPath::kCopyEnginePerRange;  // for every later batch too
      break;
    }
    if (path == CopyPath::kCopyEngineBatch) return absl::OkStatus();
  }
  for (size_t i = 0; i < n; ++i) {
    FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(descriptors_.dst[i], descriptors_.src[i],
                                            descriptors_.bytes[i], cudaMemcpyDefault, s));
    ++*calls;
  }
  return absl::OkStatus();
}

absl::Status CudaCopyEngine::EnqueueSmCopy(sched::CopyDirection d, int32_t slot, int64_t* calls) {
  PieceTable& t = piece_tables_[Dir(d)][static_cast<size_t>(slot)];
  const int64_t n = static_cast<int64_t>(descriptors_.bytes.size());
  if (t.capacity < n) {
    // Safe to free: the slot's previous batch has landed (the ledger reserved it). Grows rarely
    // (doubling), so pinning stays off the steady state.
    const int64_t cap = std::max<int64_t>(n, 2 * t.capacity + 64);
    if (t.host != nullptr) cudaFreeHost(t.host);
    t.host = nullptr;
    t.capacity = 0;
    void* p = nullptr;
    FM_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&p, static_cast<size_t>(cap) * sizeof(SmCopyPiece),
                                          cudaHostAllocMapped | cudaHostAllocPortable));
    t.host = static_cast<SmCopyPiece*>(p);
    t.capacity = cap;
  }
  for (int64_t i = 0; i < n; ++i) {
    t.host[i] = SmCopyPiece{reinterpret_cast<uint64_t>(descriptors_.src[static_cast<size_t>(i)]),
                            reinterpret_cast<uint64_t>(descriptors_.dst[static_cast<size_t>(i)]),
                            static_cast<uint64_t>(descriptors_.bytes[static_cast<size_t>(i)])};
  }
  FM_CUDA_RETURN_IF_ERROR(LaunchSmCopy(t.host, n, streams_[Dir(d)]));
  ++*calls;
  return absl::OkStatus();
}

bool CudaCopyEngine::IsDone(sched::CopyTicket ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  const TicketLedger::Lookup l = ledger_.Find(ticket);
  if (l.state != TicketLedger::State::kPending) return l.state == TicketLedger::State::kDone;
  const cudaError_t e = cudaEventQuery(event(ticket.direction, l.slot));
  if (e == cudaSuccess) {
    ledger_.MarkDone(ticket);
    return true;
  }
  // cudaErrorNotReady: still copying; any other error is reported by Wait. Either way clear the
  // thread's last error, so a later launch check on this thread does not pick it up.
  cudaGetLastError();
  return false;
}

absl::StatusOr<int64_t> CudaCopyEngine::Wait(sched::CopyTicket ticket) {
  TicketLedger::Lookup l;
  {
    std::lock_guard<std::mutex> lock(mu_);
    l = ledger_.Find(ticket);
    if (l.state == TicketLedger::State::kNeverIssued) {
      return absl::InvalidArgumentError(
          absl::StrFormat("CudaCopyEngine::Wait: %s ticket %d was never issued (issued up to %d)",
                          ticket.direction == sched::CopyDirection::kHostToDevice ? "h2d" : "d2h",
                          ticket.seq, ledger_.issued_seq(ticket.direction)));
    }
    if (l.state == TicketLedger::State::kDone) return int64_t{0};
    ledger_.AddWaiter(ticket.direction, l.slot);  // the slot's event is not re-recorded meanwhile
  }
  FM_ZONE("copy.wait", ticket.seq);
  const auto t0 = std::chrono::steady_clock::now();
  const cudaError_t e =
      BlockingEventSynchronize(event(ticket.direction, l.slot), BlockingReason::kCopyWait);
  const auto t1 = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  ledger_.RemoveWaiter(ticket.direction, l.slot);
  if (e != cudaSuccess) return kernels::CudaError(e, "cudaEventSynchronize", __FILE__, __LINE__);
  ledger_.MarkDone(ticket);
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
}

absl::Status CudaCopyEngine::StreamWaitFor(sched::CopyTicket ticket, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  const TicketLedger::Lookup l = ledger_.Find(ticket);
  if (l.state == TicketLedger::State::kNeverIssued) {
    return absl::InvalidArgumentError(
        absl::StrFormat("CudaCopyEngine::StreamWaitFor: ticket %d was never issued", ticket.seq));
  }
  if (l.state == TicketLedger::State::kDone) return absl::OkStatus();
  // Under mu_, so the slot cannot be re-recorded between the lookup and the wait; the wait then
  // binds to this record and a later re-record does not affect it.
  FM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream, event(ticket.direction, l.slot), 0));
  return absl::OkStatus();
}

absl::Status CudaCopyEngine::CopiesWaitFor(sched::CopyDirection direction, cudaEvent_t e) {
  std::lock_guard<std::mutex> lock(submit_mu_);  // ordered with the batches on that stream
  FM_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(streams_[Dir(direction)], e, 0));
  return absl::OkStatus();
}

CudaCopyEngine::Stats CudaCopyEngine::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace fm::rt::cuda
