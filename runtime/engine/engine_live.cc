// Live control of the engine (DESIGN.md §5 "Live changes", §7 Snapshot): knobs set between steps
// and applied at each request's next cycle boundary, and the Snapshot of the current state that
// live profiler clients (and trace files) start from. Engine thread only, like Step.

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/engine_request.h"
#include "traces/control.h"

namespace fm::rt {
namespace {

// Writes `value` into the knob `name` of *p (tail is in pages, the scheduler counts chunks). The
// range checks are SchedulerParams::Validate's; this only refuses unknown names and fractions.
absl::Status WriteKnob(std::string_view name, double value, int32_t chunks_per_page,
                       sched::SchedulerParams* p) {
  if (name == traces::kParamThreshold) {
    p->policy.threshold = value;
    return absl::OkStatus();
  }
  const bool known = name == traces::kParamTau || name == traces::kParamDelta ||
                     name == traces::kParamKmax || name == traces::kParamTail;
  if (!known) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "knob '%s' unknown, expected one of tau, delta, threshold, kmax, tail", name));
  }
  if (!std::isfinite(value) || std::floor(value) != value || std::fabs(value) > (1 << 30)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("knob '%s': value %g, expected an integer", name, value));
  }
  const int32_t v = static_cast<int32_t>(value);
  if (name == traces::kParamTau) p->tau_steps = v;
  if (name == traces::kParamDelta) p->publish_delay_steps = v;
  if (name == traces::kParamKmax) p->policy.kmax_pages = v;
  if (name == traces::kParamTail) p->policy.tail_chunks = int64_t{v} * chunks_per_page;
  return absl::OkStatus();
}

bool SamePolicy(const sched::PolicyParams& a, const sched::PolicyParams& b) {
  return a.threshold == b.threshold && a.kmax_pages == b.kmax_pages &&
         a.tail_chunks == b.tail_chunks && a.sink_chunks == b.sink_chunks;
}

traces::PageState PageStateOfSlot(sched::SlotState s) {
  switch (s) {
    case sched::SlotState::kFetching:
      return traces::PageState::kFetching;
    case sched::SlotState::kDirty:
      return traces::PageState::kDirty;
    case sched::SlotState::kWritingBack:
      return traces::PageState::kWritingBack;
    case sched::SlotState::kHot:
    case sched::SlotState::kCached:  // still holds the page: a hit at the next cycle
      return traces::PageState::kHot;
    case sched::SlotState::kFree:
      break;
  }
  return traces::PageState::kCold;
}

}  // namespace

std::vector<uint32_t> Engine::RequestIds() const {
  std::vector<uint32_t> ids;
  ids.reserve(requests_.size());
  for (const auto& r : requests_) ids.push_back(r->id);
  return ids;
}

sched::SchedulerParams Engine::NextParams(std::optional<uint32_t> request) const {
  if (request) {
    auto it = live_overrides_.find(*request);
    if (it != live_overrides_.end()) return it->second;
  }
  return live_params_.value_or(config_.params);
}

absl::Status Engine::SetKnob(std::string_view name, double value,
                             std::optional<uint32_t> request) {
  if (!scheduler_) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "knob '%s' = %g: mode full has no scheduler (every page stays resident)", name, value));
  }
  const std::vector<uint32_t> active = RequestIds();
  auto is_active = [&](uint32_t id) {
    return std::find(active.begin(), active.end(), id) != active.end();
  };
  // The scheduler forgot the overrides of requests that left; so does this copy.
  absl::erase_if(live_overrides_, [&](const auto& kv) { return !is_active(kv.first); });
  auto candidate = [&](std::optional<uint32_t> id) -> absl::StatusOr<sched::SchedulerParams> {
    sched::SchedulerParams p = NextParams(id);
    absl::Status s = WriteKnob(name, value, geometry_.chunks_per_page, &p);
    if (s.ok()) s = p.Validate(geometry_, scheduler_->config().kmax_max_pages);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "knob '%s' = %g%s refused: %s", name, value,
          id ? absl::StrFormat(" (request %d)", *id) : std::string(), s.message()));
    }
    return p;
  };
  if (request) {
    if (!is_active(*request)) {
      return absl::NotFoundError(
          absl::StrFormat("knob '%s' = %g: request %d is not active", name, value, *request));
    }
    FM_ASSIGN_OR_RETURN(sched::SchedulerParams p, candidate(request));
    FM_RETURN_IF_ERROR(scheduler_->SetParams(p, sched::RequestId{*request}));
    live_overrides_[*request] = p;
    return absl::OkStatus();
  }
  // Every request: the global knobs and each override change together, or none does.
  FM_ASSIGN_OR_RETURN(sched::SchedulerParams global, candidate(std::nullopt));
  std::vector<std::pair<uint32_t, sched::SchedulerParams>> overrides;
  for (const auto& [id, unused] : live_overrides_) {
    FM_ASSIGN_OR_RETURN(sched::SchedulerParams p, candidate(id));
    overrides.emplace_back(id, p);
  }
  FM_RETURN_IF_ERROR(scheduler_->SetParams(global, std::nullopt));
  live_params_ = global;
  for (const auto& [id, p] : overrides) {
    FM_RETURN_IF_ERROR(scheduler_->SetParams(p, sched::RequestId{id}));
    live_overrides_[id] = p;
  }
  return absl::OkStatus();
}

absl::Status Engine::UseLevel1PolicyOf(const Request& r) {
  const sched::PolicyParams want = NextParams(r.id).policy;
  if (SamePolicy(want, level1_->options().policy)) return absl::OkStatus();
  // Level1 holds its options by value: a changed policy is a new (cheap) Level1 on the same
  // indexer; only scratch memory is lost.
  Level1Options o = level1_->options();
  o.policy = want;
  FM_ASSIGN_OR_RETURN(Level1 l1, Level1::Create(indexer_, o));
  level1_.emplace(std::move(l1));
  return absl::OkStatus();
}

traces::Snapshot Engine::LiveSnapshot() const {
  traces::Snapshot s;
  traces::PoolsSection pools;
  pools.slot_bytes = static_cast<uint64_t>(geometry_.slot_bytes());
  pools.cold_total_bytes = cold_.size();
  pools.cold_used_bytes = static_cast<uint64_t>(full_kv_bytes());
  if (scheduler_) {
    const sched::HotPool& pool = scheduler_->pool();
    pools.slots_total = static_cast<uint32_t>(pool.slots_total());
    pools.slots_used = static_cast<uint32_t>(pool.slots_total() - pool.free_count());
    pools.slots_fetching = static_cast<uint32_t>(pool.CountInState(sched::SlotState::kFetching));
    pools.slots_dirty = static_cast<uint32_t>(pool.CountInState(sched::SlotState::kDirty));
  }
  s.pools = pools;

  const sched::SchedulerParams p = NextParams(std::nullopt);
  const int32_t kmax_max = scheduler_ ? scheduler_->config().kmax_max_pages : 0;
  traces::ParamsSection params;
  params.tau_steps = static_cast<uint32_t>(p.tau_steps);
  params.delta_steps = static_cast<uint32_t>(p.publish_delay_steps);
  params.threshold = p.policy.threshold;
  // KMAX "auto" is reported as what the rule gives the first active request (what runs now).
  int32_t kmax = p.policy.kmax_pages;
  if (kmax == 0 && scheduler_) {
    const int64_t pages =
        requests_.empty() ? 0 : sched::PagesForChunks(ChunkCount(*requests_.front()->seq), geometry_);
    kmax = sched::EffectiveKmaxPages(p.policy, pages, kmax_max);
  }
  params.kmax_pages = static_cast<uint32_t>(kmax);
  params.kmax_max_pages = static_cast<uint32_t>(kmax_max);
  params.tail_pages = static_cast<uint32_t>(
      (p.policy.tail_chunks + geometry_.chunks_per_page - 1) / geometry_.chunks_per_page);
  params.sink = p.policy.sink_chunks > 0 ? 1 : 0;
  params.ensemble = 0;  // max over the target layers, the only ensemble implemented
  s.params = params;

  std::vector<traces::RequestRow> rows;
  for (const auto& r : requests_) {
    const int64_t chunks = ChunkCount(*r->seq);
    // Pages up to the one receiving the next chunk (the tail page decode writes into).
    const int64_t pages = sched::PageOf(sched::ChunkIndex{chunks}, geometry_).v + 1;
    traces::RequestRow row;
    row.id = r->id;
    row.row = static_cast<uint32_t>(r->row);
    row.context_tokens = static_cast<uint64_t>(r->seq->length());
    row.pages = static_cast<uint32_t>(pages);
    traces::ResidencyEntry res;
    res.request_id = r->id;
    res.page_states.assign(static_cast<size_t>(pages), static_cast<uint8_t>(traces::PageState::kHot));
    if (scheduler_) {
      row.phase = static_cast<uint32_t>(scheduler_->Phase(r->sid()).value_or(0));
      row.generation =
          static_cast<uint32_t>(std::max<int64_t>(0, scheduler_->LiveGeneration(r->sid()).value_or(0)));
      const sched::HotPool& pool = scheduler_->pool();
      for (int64_t page = 0; page < pages; ++page) {
        const std::optional<sched::CellIndex> cell = scheduler_->ResidentCell(
            r->sid(), sched::FirstChunkOf(sched::PageIndex{page}, geometry_));
        traces::PageState state = traces::PageState::kCold;
        if (cell) {
          const sched::SlotId slot{static_cast<int32_t>(cell->v / geometry_.chunks_per_page)};
          state = PageStateOfSlot(pool.info(slot).state);
        }
        res.page_states[static_cast<size_t>(page)] = static_cast<uint8_t>(state);
      }
    }
    rows.push_back(row);
    s.residency.push_back(std::move(res));
  }
  s.requests = std::move(rows);
  // Fetch latency of every H2D batch so far (copy_ns stays empty: the CPU backend has no separate
  // device-side copy time, the link model's duration is the whole latency).
  if (!fetch_latency_.fetch_ns.empty()) s.latency = fetch_latency_;
  return s;
}

}  // namespace fm::rt
