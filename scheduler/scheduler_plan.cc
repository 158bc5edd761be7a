// Scheduler::PlanCycle: the read-only half of plan-then-apply. It selects pages, diffs them against
// residency, picks victims (Free first, then the LRU end of Cached), truncates when slots run out
// and builds coalesced copy ranges. Nothing here changes the scheduler's state except scratch.

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/check.h"
#include "scheduler/scheduler.h"

namespace fm::sched {
namespace {

void ResetPlan(CyclePlan* plan) {
  plan->overrun = false;
  plan->selected.clear();
  plan->table.clear();
  plan->hits.clear();
  plan->fetches.clear();
  plan->truncated.clear();
  plan->evictions.clear();
  plan->new_tail.clear();
  plan->writebacks.clear();
  plan->h2d_ranges.clear();
  plan->d2h_ranges.clear();
  plan->h2d_bytes = 0;
  plan->d2h_bytes = 0;
  plan->tail_overflow_pages = 0;
}

// Hands out victim slots in the order DESIGN.md §2.2 allows: the Free slot right after the
// previous pick (so adjacent cold pages get adjacent slots and coalesce), else the lowest Free
// slot, else the least recently used Cached slot. Slots marked in `mark` (hits and earlier picks of
// this plan) are never handed out.
class VictimPicker {
 public:
  VictimPicker(const HotPool& pool, std::vector<uint8_t>& mark)
      : pool_(pool), mark_(mark), free_it_(pool.free_slots().begin()), lru_(pool.LruOldest()) {}

  // Returns the slot and whether it was Cached (an eviction).
  std::pair<SlotId, bool> Pick(bool prefer_after_previous) {
    SlotId s;
    bool evicted = false;
    const int32_t next = previous_.v + 1;
    if (prefer_after_previous && previous_.valid() && next < pool_.slots_total() && !mark_[next] &&
        pool_.info(SlotId{next}).state == SlotState::kFree) {
      s = SlotId{next};
    } else {
      while (free_it_ != pool_.free_slots().end() && mark_[*free_it_]) ++free_it_;
      if (free_it_ != pool_.free_slots().end()) {
        s = SlotId{*free_it_};
      } else {
        while (lru_.valid() && mark_[lru_.v]) lru_ = pool_.LruNewer(lru_);
        FM_CHECK_MSG(lru_.valid(), "victims were counted before picking");
        s = lru_;
        evicted = true;
      }
    }
    mark_[s.v] = 1;
    previous_ = s;
    return {s, evicted};
  }

 private:
  const HotPool& pool_;
  std::vector<uint8_t>& mark_;
  std::set<int32_t>::const_iterator free_it_;
  SlotId lru_;
  SlotId previous_;
};

}  // namespace

absl::Status Scheduler::PlanCycle(const CycleInput& input, CyclePlan* plan) const {
  const RequestState* r = Find(input.request);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("Scheduler::PlanCycle: request %u is not admitted", input.request.v));
  }
  return PlanFor(*r, input, plan);
}

absl::Status Scheduler::PlanFor(const RequestState& r, const CycleInput& input,
                                CyclePlan* plan) const {
  const GeometryConfig& g = config_.geometry;
  ResetPlan(plan);
  plan->request = r.id;
  plan->step = input.step;
  plan->residency_epoch = epoch_;
  plan->generation = r.live_gen + 1;
  if (r.staged) {
    // Invariant 2: at most one generation in flight. Skip scoring, count the overrun.
    plan->overrun = true;
    plan->params = r.applied_params;
    plan->context_chunks = r.context_chunks;
    plan->tail_page = r.tail_page;
    plan->next_boundary_step = input.step + r.applied_params.tau_steps;
    return absl::OkStatus();
  }
  const SchedulerParams& params = ParamsFor(r);
  plan->params = params;
  const int64_t c = input.context_chunks;
  if (c < r.context_chunks) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Scheduler::PlanCycle: request %u context_chunks %d, expected >= %d (the last cycle's)",
        r.id.v, c, r.context_chunks));
  }
  const PageIndex tail = PageOf(ChunkIndex{c}, g);
  const PageIndex spare{tail.v + 1};
  if (static_cast<int64_t>(r.cold_pages.size()) <= spare.v) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "Scheduler::PlanCycle: request %u has %d cold pages, expected >= %d (tail page %d + "
        "spare) for context_chunks %d",
        r.id.v, r.cold_pages.size(), spare.v + 1, tail.v, c));
  }
  plan->context_chunks = c;
  plan->tail_page = tail;
  plan->kmax_pages =
      EffectiveKmaxPages(params.policy, PagesForChunks(c, g), config_.kmax_max_pages);
  if (absl::Status s =
          SelectPages(input.density, c, params.policy, plan->kmax_pages, g, &selection_);
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Scheduler::PlanCycle: request %u: %s", r.id.v, s.message()));
  }
  plan->selected = selection_.ascending;

  auto lut = [&](PageIndex p) {
    return p.v < static_cast<int64_t>(r.slot_of_page.size())
               ? SlotId{r.slot_of_page[static_cast<size_t>(p.v)]}
               : SlotId{};
  };

  // Tail pages filled since the last cycle go back to the cold pool. Pages past the old spare were
  // never held by a slot: decode outran the tables (counted; the runtime's Validate of τ + Δ
  // prevents it unless publishes slip).
  for (int64_t p = r.tail_page.v; p < tail.v; ++p) {
    const SlotId s = lut(PageIndex{p});
    if (s.valid() && pool_.info(s).state == SlotState::kDirty) {
      plan->writebacks.push_back(PageSlot{PageIndex{p}, s});
    } else if (!s.valid() && r.live_gen >= 0 && p > r.tail_page.v + 1) {
      ++plan->tail_overflow_pages;
    }
  }

  slot_mark_.resize(static_cast<size_t>(pool_.slots_total()), 0);
  int32_t cached_hits = 0;
  auto hit = [&](PageIndex p, SlotId s) {
    plan->hits.push_back(PageSlot{p, s});
    plan->table.push_back(PageSlot{p, s});
    cached_hits += pool_.info(s).state == SlotState::kCached ? 1 : 0;
    slot_mark_[s.v] = 1;
  };
  // The tail and spare always get slots: decode writes new chunks into them in-graph.
  PageIndex tail_fetch{-1};
  PageIndex tail_dirty[2] = {PageIndex{-1}, PageIndex{-1}};
  int32_t mandatory = 0;
  for (PageIndex p : {tail, spare}) {
    const SlotId s = lut(p);
    if (s.valid()) {
      hit(p, s);
    } else if (FirstChunkOf(p, g).v < c) {
      tail_fetch = p;  // a partial page whose prefix is in the cold pool (admission)
      ++mandatory;
    } else {
      tail_dirty[p == tail ? 0 : 1] = p;
      ++mandatory;
    }
  }
  misses_.clear();
  for (PageIndex p : selection_.by_priority) {
    if (p == tail) continue;
    const SlotId s = lut(p);
    if (s.valid()) {
      hit(p, s);
    } else {
      misses_.push_back(p);
    }
  }
  const int64_t available = int64_t{pool_.free_count()} + pool_.cached_count() - cached_hits;
  if (mandatory > available) {
    for (const PageSlot& e : plan->table) slot_mark_[e.slot.v] = 0;
    return absl::ResourceExhaustedError(absl::StrFormat(
        "Scheduler::PlanCycle: request %u needs %d slots for its tail pages, %d free or cached "
        "of slots_total %d",
        r.id.v, mandatory, available, pool_.slots_total()));
  }
  // Densest missing pages first: misses_ is in policy priority order. Selected pages never take
  // the last slots: one is kept for each other request, whose next cycle may need a new spare
  // tail page before its own flip releases anything (tail pages are mandatory, selected pages are
  // not). Without that reserve a burst of misses could leave another request's decode with no
  // page to write into.
  const int64_t reserve = static_cast<int64_t>(requests_.size()) - 1;
  const size_t n_fetch = static_cast<size_t>(std::clamp<int64_t>(
      available - mandatory - reserve, 0, static_cast<int64_t>(misses_.size())));
  plan->truncated.assign(misses_.begin() + static_cast<std::ptrdiff_t>(n_fetch), misses_.end());
  misses_.resize(n_fetch);
  if (tail_fetch.v >= 0) misses_.push_back(tail_fetch);
  // Allocate in cold-page order so that adjacent cold pages land in adjacent slots.
  std::sort(misses_.begin(), misses_.end(), [&](PageIndex a, PageIndex b) {
    return r.cold_pages[static_cast<size_t>(a.v)] < r.cold_pages[static_cast<size_t>(b.v)];
  });
  VictimPicker picker(pool_, slot_mark_);
  moves_.clear();
  auto take = [&](PageIndex p, bool prefer_adjacent) {
    auto [s, evicted] = picker.Pick(prefer_adjacent);
    if (evicted) {
      const SlotInfo& info = pool_.info(s);
      plan->evictions.push_back(Eviction{info.owner, info.page, s});
    }
    plan->table.push_back(PageSlot{p, s});
    return s;
  };
  for (PageIndex p : misses_) {
    const SlotId s = take(p, /*prefer_adjacent=*/true);
    plan->fetches.push_back(PageSlot{p, s});
    moves_.push_back(PageMove{ColdOffsetBytes(r.cold_pages[static_cast<size_t>(p.v)], g),
                              SlotOffsetBytes(s, g)});
  }
  for (PageIndex p : tail_dirty) {
    if (p.v >= 0) plan->new_tail.push_back(PageSlot{p, take(p, /*prefer_adjacent=*/false)});
  }
  for (const PageSlot& e : plan->table) slot_mark_[e.slot.v] = 0;
  std::sort(plan->table.begin(), plan->table.end(),
            [](const PageSlot& a, const PageSlot& b) { return a.page < b.page; });

  std::sort(moves_.begin(), moves_.end(), [](const PageMove& a, const PageMove& b) {
    return a.src_offset_bytes < b.src_offset_bytes;
  });
  CoalescePageMoves(moves_, g.slot_bytes(), &plan->h2d_ranges);
  plan->h2d_bytes = static_cast<int64_t>(moves_.size()) * g.slot_bytes();
  moves_.clear();
  for (const PageSlot& w : plan->writebacks) {
    moves_.push_back(PageMove{SlotOffsetBytes(w.slot, g),
                              ColdOffsetBytes(r.cold_pages[static_cast<size_t>(w.page.v)], g)});
  }
  std::sort(moves_.begin(), moves_.end(), [](const PageMove& a, const PageMove& b) {
    return a.src_offset_bytes < b.src_offset_bytes;
  });
  CoalescePageMoves(moves_, g.slot_bytes(), &plan->d2h_ranges);
  plan->d2h_bytes = static_cast<int64_t>(moves_.size()) * g.slot_bytes();

  plan->publish_step = input.step + params.publish_delay_steps;
  plan->next_boundary_step = input.step + params.tau_steps;
  return absl::OkStatus();
}

}  // namespace fm::sched
