// Telemetry of the engine (DESIGN.md §6): copy completions and the standard counters, emitted from
// the engine thread. Every emit is a no-op without a running collector.

#include <algorithm>

#include "runtime/engine/engine.h"
#include "traces/emit.h"
#include "traces/standard_names.h"

namespace fm::rt {

void Engine::EmitCompletions() {
  auto landed = [&](const InFlight& f) {
    if (!link_->IsDone(f.ticket)) return false;
    // Latency from submit to landing on the link's clock (virtual or real), queueing included.
    const int64_t duration = std::max<int64_t>(0, f.done_link_ns - f.issue_link_ns);
    traces::EmitCopyDone(f.ticket.seq, f.issue_ns, duration, 0, 0);
    fetch_latency_.Add(&fetch_latency_.fetch_ns, static_cast<uint64_t>(duration));
    return true;
  };
  inflight_.erase(std::remove_if(inflight_.begin(), inflight_.end(), landed), inflight_.end());
}

void Engine::EmitIssued(sched::CopyTicket ticket, int64_t bytes) {
  if (!ticket.valid()) return;
  traces::EmitCopyIssue(ticket.seq, static_cast<uint64_t>(bytes), 0);
  const int64_t now = clock_->NowNs();
  // The latency runs from the link's own submit time: this call comes after the scheduler's
  // Submit, and on a real clock short batches would look shorter than the modelled call latency.
  // Landed already (a real clock can outrun this call): the landing is no later than now.
  const absl::StatusOr<sched::SimLink::BatchTiming> t = link_->Timing(ticket);
  inflight_.push_back(
      InFlight{ticket, traces::NowNs(), t.ok() ? t->submit_ns : now, t.ok() ? t->done_ns : now});
}

traces::Hello Engine::TraceHello() const {
  traces::Hello h;
  h.program = "flashmem run";
  h.device_name = "cpu (SimLink)";
  h.copy_engines = scheduler_ ? 2 : 0;
  h.layers = static_cast<uint16_t>(model_->config().num_hidden_layers);
  h.csa_layers = static_cast<uint16_t>(geometry_.csa_layers);
  h.chunk_tokens = static_cast<uint16_t>(geometry_.tokens_per_chunk);
  h.page_chunks = static_cast<uint16_t>(geometry_.chunks_per_page);
  h.slot_bytes = static_cast<uint64_t>(geometry_.slot_bytes());
  h.hot_slots_total = scheduler_ ? static_cast<uint64_t>(scheduler_->config().slots_total) : 0;
  h.cold_pool_bytes = cold_.size();
  if (config_.record_scores) h.capabilities |= traces::kCapScores;
  return h;
}

void Engine::EmitCounters() {
  if (!traces::Enabled()) return;
  using namespace traces::names;
  traces::EmitCounter(traces::Intern(kTokens), stats_.tokens);
  if (!scheduler_) return;
  const sched::SchedulerStats& s = scheduler_->stats();
  traces::EmitCounter(traces::Intern(kH2dBytes), s.h2d_bytes);
  traces::EmitCounter(traces::Intern(kD2hBytes), s.d2h_bytes);
  traces::EmitCounter(traces::Intern(kPageHits), s.page_hits);
  traces::EmitCounter(traces::Intern(kPageMisses), s.page_misses);
  traces::EmitCounter(traces::Intern(kEvictions), s.evictions);
  traces::EmitCounter(traces::Intern(kPublishStall), s.publish_stall_ns);
  traces::EmitCounter(traces::Intern(kPublishSlips), s.publish_slips);
  traces::EmitCounter(traces::Intern(kCycleOverruns), s.cycle_overruns);
  traces::EmitCounter(traces::Intern(kPagesTruncated), s.pages_truncated);
  traces::EmitCounter(traces::Intern(kHotSlotsUsed),
                      scheduler_->config().slots_total - scheduler_->pool().free_count());
}

}  // namespace fm::rt
