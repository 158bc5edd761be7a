#include "scheduler/sim_link.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace fm::sched {
namespace {

int Dir(CopyDirection d) { return static_cast<int>(d); }

const char* DirName(CopyDirection d) { return d == CopyDirection::kHostToDevice ? "h2d" : "d2h"; }

// splitmix64: a fixed, portable generator, so a seed gives the same jitter on every platform
// (std distributions are implementation-defined).
uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

absl::Status SimLinkConfig::Validate() const {
  auto bad = [](const char* field, double v, const char* expected) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SimLinkConfig.%s: %g, expected %s", field, v, expected));
  };
  // A rate above 10 TB/s is not a PCIe link; the bound also keeps bytes / rate finite.
  if (!(h2d_gbps > 0.0 && h2d_gbps <= 1e4)) return bad("h2d_gbps", h2d_gbps, "in (0, 10000]");
  if (!(d2h_gbps > 0.0 && d2h_gbps <= 1e4)) return bad("d2h_gbps", d2h_gbps, "in (0, 10000]");
  if (batch_latency_ns < 0) return bad("batch_latency_ns", double(batch_latency_ns), ">= 0");
  if (per_descriptor_ns < 0) return bad("per_descriptor_ns", double(per_descriptor_ns), ">= 0");
  if (!(jitter_fraction >= 0.0 && jitter_fraction <= 10.0)) {
    return bad("jitter_fraction", jitter_fraction, "in [0, 10]");
  }
  if (max_descriptors_per_batch <= 0) {
    return bad("max_descriptors_per_batch", double(max_descriptors_per_batch), "> 0");
  }
  if (max_pending_batches <= 0) {
    return bad("max_pending_batches", double(max_pending_batches), "> 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SimLink>> SimLink::Create(const SimLinkConfig& config, Clock* clock,
                                                         absl::Span<std::byte> host_pool,
                                                         absl::Span<std::byte> device_pool) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (clock == nullptr) return absl::InvalidArgumentError("SimLink: clock is null");
  return std::unique_ptr<SimLink>(new SimLink(config, clock, host_pool, device_pool));
}

SimLink::SimLink(const SimLinkConfig& config, Clock* clock, absl::Span<std::byte> host_pool,
                 absl::Span<std::byte> device_pool)
    : config_(config), clock_(clock), host_pool_(host_pool), device_pool_(device_pool) {
  rng_state_ = config.jitter_seed;
  if (clock_->is_virtual()) {
    listener_ = clock_->AddListener([this] {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    });
  }
  worker_ = std::thread([this] { WorkerLoop(); });
}

SimLink::~SimLink() {
  if (clock_->is_virtual()) clock_->RemoveListener(listener_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  worker_.join();
}

double SimLink::NextJitter() {
  if (config_.jitter_fraction == 0.0) return 0.0;
  const double u = static_cast<double>(SplitMix64(&rng_state_) >> 11) * 0x1.0p-53;  // [0, 1)
  return u * config_.jitter_fraction;
}

absl::StatusOr<CopyTicket> SimLink::Submit(CopyDirection direction,
                                           absl::Span<const CopyRange> ranges) {
  if (ranges.empty() || static_cast<int64_t>(ranges.size()) > config_.max_descriptors_per_batch) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SimLink::Submit(%s): %d ranges, expected 1..%d", DirName(direction),
                        ranges.size(), config_.max_descriptors_per_batch));
  }
  const bool h2d = direction == CopyDirection::kHostToDevice;
  const int64_t src_bytes = static_cast<int64_t>(h2d ? host_pool_.size() : device_pool_.size());
  const int64_t dst_bytes = static_cast<int64_t>(h2d ? device_pool_.size() : host_pool_.size());
  int64_t total_bytes = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const CopyRange& r = ranges[i];
    if (r.bytes <= 0 || r.src_offset_bytes < 0 || r.dst_offset_bytes < 0 ||
        r.src_offset_bytes > src_bytes - r.bytes || r.dst_offset_bytes > dst_bytes - r.bytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "SimLink::Submit(%s): range %d {src %d, dst %d, bytes %d} is outside the pools "
          "(src pool %d B, dst pool %d B)",
          DirName(direction), i, r.src_offset_bytes, r.dst_offset_bytes, r.bytes, src_bytes,
          dst_bytes));
    }
    total_bytes += r.bytes;
  }
  const double gbps = h2d ? config_.h2d_gbps : config_.d2h_gbps;
  std::lock_guard<std::mutex> lock(mu_);
  const int d = Dir(direction);
  if (static_cast<int64_t>(pending_[0].size() + pending_[1].size()) >=
      config_.max_pending_batches) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "SimLink::Submit(%s): %d batches pending, limit max_pending_batches %d", DirName(direction),
        pending_[0].size() + pending_[1].size(), config_.max_pending_batches));
  }
  const double model_ns = static_cast<double>(config_.batch_latency_ns) +
                          static_cast<double>(config_.per_descriptor_ns) * ranges.size() +
                          static_cast<double>(total_bytes) / gbps;
  const int64_t duration_ns = static_cast<int64_t>(std::llround(model_ns * (1.0 + NextJitter())));
  const int64_t submit_ns = clock_->NowNs();
  const int64_t start_ns = std::max(submit_ns, link_free_ns_[d]);
  Batch b{direction, next_seq_[d]++, submit_ns, start_ns + duration_ns,
          std::vector<CopyRange>(ranges.begin(), ranges.end())};
  link_free_ns_[d] = b.done_ns;
  stats_.batches[d] += 1;
  stats_.descriptors[d] += static_cast<int64_t>(ranges.size());
  stats_.bytes[d] += total_bytes;
  stats_.busy_ns[d] += duration_ns;
  const CopyTicket ticket{direction, b.seq};
  pending_[d].push_back(std::move(b));
  cv_.notify_all();
  return ticket;
}

const SimLink::Batch* SimLink::NextToLand() const {
  const Batch* best = nullptr;
  for (const std::deque<Batch>& q : pending_) {
    if (!q.empty() && (best == nullptr || q.front().done_ns < best->done_ns)) best = &q.front();
  }
  return best;
}

const SimLink::Batch* SimLink::FindPending(CopyTicket t) const {
  const std::deque<Batch>& q = pending_[Dir(t.direction)];
  if (q.empty() || t.seq < q.front().seq) return nullptr;
  const uint64_t i = t.seq - q.front().seq;
  return i < q.size() ? &q[i] : nullptr;
}

void SimLink::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const Batch* next = NextToLand();
    if (next == nullptr) {
      cv_.wait(lock);
      continue;
    }
    const int64_t now = clock_->NowNs();
    if (now < next->done_ns) {
      if (clock_->is_virtual()) {
        cv_.wait(lock);  // woken by the clock's listener or by a Submit
      } else {
        cv_.wait_for(lock, std::chrono::nanoseconds(next->done_ns - now));
      }
      continue;
    }
    const int d = Dir(next->direction);
    Batch b = std::move(pending_[d].front());
    pending_[d].pop_front();
    lock.unlock();
    const bool h2d = b.direction == CopyDirection::kHostToDevice;
    std::byte* src = h2d ? host_pool_.data() : device_pool_.data();
    std::byte* dst = h2d ? device_pool_.data() : host_pool_.data();
    for (const CopyRange& r : b.ranges) {
      std::memcpy(dst + r.dst_offset_bytes, src + r.src_offset_bytes, static_cast<size_t>(r.bytes));
    }
    lock.lock();
    landed_seq_[d] = b.seq;
    cv_.notify_all();
  }
}

bool SimLink::IsDone(CopyTicket ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  const int d = Dir(ticket.direction);
  if (ticket.seq <= landed_seq_[d]) return true;
  if (ticket.seq >= next_seq_[d]) return false;  // never issued
  const Batch* b = FindPending(ticket);
  if (b != nullptr && clock_->NowNs() < b->done_ns) return false;
  // Due (or being copied right now): the answer must depend only on the clock, never on how fast
  // the worker thread runs, so wait for the memcpy, which is bounded work.
  cv_.wait(lock, [&] { return ticket.seq <= landed_seq_[d] || stop_; });
  return ticket.seq <= landed_seq_[d];
}

absl::StatusOr<int64_t> SimLink::Wait(CopyTicket ticket) {
  const int64_t start_ns = clock_->NowNs();
  const int d = Dir(ticket.direction);
  int64_t done_ns = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ticket.seq == 0 || ticket.seq >= next_seq_[d]) {
      return absl::InvalidArgumentError(
          absl::StrFormat("SimLink::Wait: %s ticket %d was never issued (next %d)",
                          DirName(ticket.direction), ticket.seq, next_seq_[d]));
    }
    if (ticket.seq <= landed_seq_[d]) return int64_t{0};
    const Batch* b = FindPending(ticket);
    done_ns = b != nullptr ? b->done_ns : start_ns;
  }
  // Without the lock: advancing runs the clock's listeners, which take mu_.
  if (clock_->is_virtual() && clock_->NowNs() < done_ns) clock_->AdvanceTo(done_ns);
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return ticket.seq <= landed_seq_[d] || stop_; });
  return clock_->NowNs() - start_ns;
}

absl::StatusOr<int64_t> SimLink::DoneNs(CopyTicket ticket) {
  FM_ASSIGN_OR_RETURN(BatchTiming t, Timing(ticket));
  return t.done_ns;
}

absl::StatusOr<SimLink::BatchTiming> SimLink::Timing(CopyTicket ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  if (const Batch* b = FindPending(ticket)) return BatchTiming{b->submit_ns, b->done_ns};
  return absl::NotFoundError(
      absl::StrFormat("SimLink: %s ticket %d is not pending (landed up to %d)",
                      DirName(ticket.direction), ticket.seq, landed_seq_[Dir(ticket.direction)]));
}

int64_t SimLink::LinkFreeNs(CopyDirection direction) {
  std::lock_guard<std::mutex> lock(mu_);
  return link_free_ns_[Dir(direction)];
}

SimLink::Stats SimLink::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace fm::sched
