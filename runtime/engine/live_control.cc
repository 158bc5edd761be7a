#include "runtime/engine/live_control.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "traces/emit.h"

namespace fm::rt {
namespace {

// The value a knob has in `p`, in Control units (tail in pages).
double KnobValue(const std::string& name, const sched::SchedulerParams& p, int32_t chunks_per_page) {
  if (name == traces::kParamTau) return p.tau_steps;
  if (name == traces::kParamDelta) return p.publish_delay_steps;
  if (name == traces::kParamThreshold) return p.policy.threshold;
  if (name == traces::kParamKmax) return p.policy.kmax_pages;
  if (name == traces::kParamTail) {
    return static_cast<double>(p.policy.tail_chunks) / static_cast<double>(chunks_per_page);
  }
  return -1;  // unreachable for a knob Engine::SetKnob accepted
}

}  // namespace

LiveControl::LiveControl(Engine* engine, traces::ControlQueue* controls,
                         SnapshotPoster post_snapshot, LiveControlOptions options)
    : engine_(engine),
      controls_(controls),
      post_snapshot_(std::move(post_snapshot)),
      options_(options),
      period_ms_(options.snapshot_period_ms) {
  UpdateLimits();
  engine_->SetCycleObserver(
      [this](uint32_t request, const sched::SchedulerParams& p) { OnCycle(request, p); });
}

LiveControl::~LiveControl() { engine_->SetCycleObserver({}); }

void LiveControl::UpdateLimits() {
  if (controls_ == nullptr) return;
  traces::ControlLimits limits;
  const sched::Scheduler* s = engine_->scheduler();
  limits.kmax_max_pages = s ? static_cast<uint32_t>(s->config().kmax_max_pages) : 0;
  const sched::SchedulerParams p = engine_->NextParams(std::nullopt);
  limits.tau_steps = static_cast<uint32_t>(p.tau_steps);
  limits.delta_steps = static_cast<uint32_t>(p.publish_delay_steps);
  limits.tokens_per_page = static_cast<uint32_t>(engine_->geometry().tokens_per_page());
  controls_->SetLimits(limits);
}

void LiveControl::Poll() {
  if (controls_ != nullptr) {
    scratch_.clear();
    controls_->Poll(&scratch_);
    for (const traces::ControlMessage& m : scratch_) Apply(m);
  }
  // Confirmations still waiting for a request that left never come.
  const std::vector<uint32_t> active = engine_->RequestIds();
  for (Pending& p : pending_) {
    std::erase_if(p.waiting, [&](uint32_t id) {
      return std::find(active.begin(), active.end(), id) == active.end();
    });
  }
  std::erase_if(pending_, [](const Pending& p) { return p.waiting.empty(); });
  const int64_t now = MonotonicNs();
  if (snapshot_asked_ || now >= next_snapshot_ns_) {
    snapshot_asked_ = false;
    next_snapshot_ns_ = now + period_ms_ * 1'000'000;
    PostSnapshot();
  }
}

bool LiveControl::AwaitRunnable(const std::function<void()>& on_paused) {
  Poll();
  while (paused_ && !stop_.load(std::memory_order_acquire)) {
    if (on_paused) on_paused();
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.pause_poll_ms));
    Poll();
  }
  return !stop_.load(std::memory_order_acquire);
}

void LiveControl::PostSnapshot() {
  if (!post_snapshot_) return;
  traces::Snapshot s = engine_->LiveSnapshot();
  s.snapshot_id = ++snapshot_id_;
  s.t_ns = traces::NowNs();
  post_snapshot_(s);
}

void LiveControl::Refuse(const traces::ControlMessage& m, const absl::Status& why) {
  if (controls_ == nullptr) return;
  traces::ControlReply reply;
  reply.control_seq = m.frame_seq;
  reply.code = why.code();
  reply.message = absl::StrFormat("refused by the runtime: %s", why.message());
  controls_->PostReply(m.client_id, std::move(reply));
}

void LiveControl::Apply(const traces::ControlMessage& m) {
  switch (m.op) {
    case traces::ControlOp::kSetParam: {
      std::optional<uint32_t> target;
      if (m.request_id != traces::kAllRequests) target = m.request_id;
      if (absl::Status s = engine_->SetKnob(m.param, m.value, target); !s.ok()) {
        Refuse(m, s);
        return;
      }
      // A newer value of the same knob supersedes an older one not yet applied.
      const std::vector<uint32_t> affected = target ? std::vector<uint32_t>{*target}
                                                    : engine_->RequestIds();
      for (Pending& p : pending_) {
        if (p.name != m.param) continue;
        std::erase_if(p.waiting, [&](uint32_t id) {
          return std::find(affected.begin(), affected.end(), id) != affected.end();
        });
      }
      std::erase_if(pending_, [](const Pending& p) { return p.waiting.empty(); });
      if (affected.empty()) {
        Confirm(m.param, m.value, traces::kAllRequests);  // in effect for the next admission
      } else {
        pending_.push_back(Pending{m.param, m.value, affected});
      }
      // The socket validates τ and Δ against each other and the page.
      if (m.param == traces::kParamTau || m.param == traces::kParamDelta) UpdateLimits();
      return;
    }
    case traces::ControlOp::kRequestSnapshot:
      snapshot_asked_ = true;
      return;
    case traces::ControlOp::kSetSnapshotPeriod:
      period_ms_ = m.snapshot_period_ms;
      next_snapshot_ns_ = std::min(next_snapshot_ns_, MonotonicNs() + period_ms_ * 1'000'000);
      return;
    case traces::ControlOp::kSetCategories:
      // Thins the stream at the source (no ring slot, no drain work); snapshots still flow, so a
      // client can watch residency alone with every event kind off.
      traces::SetEventCategories(m.categories);
      return;
    case traces::ControlOp::kSetPaused:
      if (paused_ != m.paused) {
        paused_ = m.paused;
        static const uint32_t kPaused = traces::Intern("decode paused");
        static const uint32_t kResumed = traces::Intern("decode resumed");
        traces::EmitMark(paused_ ? kPaused : kResumed, static_cast<uint64_t>(engine_->step()));
        snapshot_asked_ = true;  // a client sees the state the pause froze
      }
      return;
  }
}

void LiveControl::OnCycle(uint32_t request, const sched::SchedulerParams& params) {
  const int32_t chunks_per_page = engine_->geometry().chunks_per_page;
  for (Pending& p : pending_) {
    auto it = std::find(p.waiting.begin(), p.waiting.end(), request);
    if (it == p.waiting.end() || KnobValue(p.name, params, chunks_per_page) != p.value) continue;
    p.waiting.erase(it);
    Confirm(p.name, p.value, request);
  }
  std::erase_if(pending_, [](const Pending& p) { return p.waiting.empty(); });
}

void LiveControl::Confirm(const std::string& name, double value, uint32_t request) {
  traces::EmitParam(traces::Intern(name), value, request);
  applied_.push_back(KnobApplied{name, value, request, engine_->step()});
}

}  // namespace fm::rt
