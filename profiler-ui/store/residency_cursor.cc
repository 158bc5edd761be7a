#include "profiler-ui/store/residency_cursor.h"

#include <algorithm>
#include <cstring>

#include "profiler-ui/model/heatmap_color.h"

namespace fm::ui {
namespace {

// Latest keyframe at or before t that holds `request_id`; nullptr when none.
const traces::ResidencyEntry* FindKeyframe(const Store& store, uint32_t request_id, int64_t t_ns,
                                           int64_t* keyframe_ns) {
  const std::vector<Keyframe>& kfs = store.keyframes();
  auto it = std::upper_bound(kfs.begin(), kfs.end(), t_ns,
                             [](int64_t t, const Keyframe& k) { return t < k.t_ns; });
  while (it != kfs.begin()) {
    --it;
    for (const traces::ResidencyEntry& r : it->residency) {
      if (r.request_id == request_id) {
        *keyframe_ns = it->t_ns;
        return &r;
      }
    }
  }
  return nullptr;
}

}  // namespace

// Latest Select of `request_id` at or before t_ns, or kNeverNs.
int64_t CycleStart(const Store& store, uint32_t request_id, int64_t t_ns) {
  const std::vector<SelectRec>& sel = store.selects();
  auto s = std::upper_bound(sel.begin(), sel.end(), t_ns, [](int64_t t, const SelectRec& r) { return t < r.t_ns; });
  // Requests interleave their Selects; a few thousand back is far more than any batch holds.
  for (int guard = 0; s != sel.begin() && guard < 4096; ++guard) {
    --s;
    if (s->request == request_id) return s->t_ns;
  }
  return kNeverNs;
}

void ResidencyCursor::Rebuild(const Store& store, uint32_t request_id, int64_t t_ns) {
  const int layers = store.csa_layers();
  grid_ = ResidencyGrid{};
  grid_.request_id = request_id;
  keyframe_ns_ = kNeverNs;
  // A keyframe holds states only. Which pages were picked this cycle, and which were evicted a
  // moment ago, come from Page events: start from a keyframe taken before the current cycle (and
  // the just-evicted window) began, so those events are replayed too.
  const int64_t cycle_start = CycleStart(store, request_id, t_ns);
  const int64_t history_from = (cycle_start == kNeverNs ? t_ns : std::min(t_ns, cycle_start)) - kJustEvictedNs;
  const traces::ResidencyEntry* kf = FindKeyframe(store, request_id, history_from, &keyframe_ns_);
  if (kf == nullptr) kf = FindKeyframe(store, request_id, t_ns, &keyframe_ns_);
  if (kf != nullptr) {
    if (kf->l2_layers == layers && kf->l2_use.size() == kf->page_states.size() * layers) {
      grid_.l2_use = kf->l2_use;
    }
    grid_.Resize(static_cast<uint32_t>(kf->page_states.size()), layers);
    std::memcpy(grid_.state.data(), kf->page_states.data(), kf->page_states.size());
    for (uint8_t& s : grid_.state) s = std::min<uint8_t>(s, kPageWritingBack);
  } else {
    grid_.Resize(0, layers);
  }
  // Requests are known to the snapshot even before their first Page event: size from the row.
  for (const traces::RequestRow& row : store.requests()) {
    if (row.id == request_id && row.pages > grid_.pages() && row.pages <= (1u << 22)) {
      grid_.Resize(row.pages, layers);
    }
  }
  next_event_ = 0;
  auto pe = store.page_events().find(request_id);
  if (pe != store.page_events().end() && keyframe_ns_ != kNeverNs) {
    // Events at the keyframe's own time are already in it.
    next_event_ = static_cast<size_t>(
        std::upper_bound(pe->second.t_ns.begin(), pe->second.t_ns.end(), keyframe_ns_) -
        pe->second.t_ns.begin());
  }
  request_id_ = request_id;
  t_ns_ = keyframe_ns_;
  keyframe_count_ = store.keyframes().size();
  session_ = store.sessions();
  events_at_build_ = store.events_kept();
  valid_ = true;
}

void ResidencyCursor::ApplyUntil(const Store& store, int64_t t_ns) {
  auto it = store.page_events().find(request_id_);
  if (it != store.page_events().end()) {
    const PageEvents& pe = it->second;
    const int layers = grid_.layers;
    while (next_event_ < pe.t_ns.size() && pe.t_ns[next_event_] <= t_ns) {
      const uint32_t page = pe.page[next_event_];
      if (page >= grid_.pages()) grid_.Resize(page + 1, layers);
      grid_.ApplyPageEvent(page, std::min<uint8_t>(pe.state[next_event_], kPageWritingBack),
                           pe.mask[next_event_], pe.t_ns[next_event_]);
      ++next_event_;
      ++last_applied_;
    }
  }
  // "This cycle" starts at the request's latest Select at or before t.
  grid_.cycle_start_ns = CycleStart(store, request_id_, t_ns);
  t_ns_ = t_ns;
}

const ResidencyGrid& ResidencyCursor::Seek(const Store& store, uint32_t request_id, int64_t t_ns) {
  last_applied_ = 0;
  const bool forward = valid_ && request_id == request_id_ && t_ns >= t_ns_ &&
                       session_ == store.sessions() && store.events_kept() >= events_at_build_ &&
                       store.keyframes().size() == keyframe_count_;
  if (!forward) Rebuild(store, request_id, t_ns);
  ApplyUntil(store, t_ns);
  return grid_;
}

}  // namespace fm::ui
