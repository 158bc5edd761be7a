#include "profiler-ui/model/residency_grid.h"

#include <algorithm>

namespace fm::ui {

void ResidencyGrid::Resize(uint32_t pages, int csa_layers) {
  layers = std::clamp(csa_layers, 0, 32);
  state.resize(pages, kPageCold);
  if (!l2_use.empty()) l2_use.resize(static_cast<size_t>(pages) * static_cast<size_t>(layers), 0);
  layer_mask.resize(pages, 0);
  selected_ns.resize(pages, kNeverNs);
  evicted_ns.resize(pages, kNeverNs);
  fetch_start_ns.resize(pages, kNeverNs);
  fetch_latency_ns.resize(pages, -1);
}

uint8_t ResidencyGrid::L2Use(uint32_t page, int layer) const {
  const size_t i = static_cast<size_t>(page) * static_cast<size_t>(layers) + static_cast<size_t>(layer);
  return i < l2_use.size() ? l2_use[i] : 0;
}

void ResidencyGrid::ApplyPageEvent(uint32_t page, uint8_t new_state, uint32_t mask, int64_t t_ns) {
  if (page >= pages()) return;  // the caller resizes first; a stray page never grows the grid here
  const uint8_t old = state[page];
  if (new_state == kPageCold && old != kPageCold && old != kPageFetching) evicted_ns[page] = t_ns;
  if (new_state == kPageFetching && old != kPageFetching) fetch_start_ns[page] = t_ns;
  if (new_state == kPageHot && old == kPageFetching && fetch_start_ns[page] != kNeverNs) {
    fetch_latency_ns[page] = t_ns - fetch_start_ns[page];
  }
  state[page] = new_state;
  if (mask != 0) {
    layer_mask[page] = mask;
    selected_ns[page] = t_ns;
  }
}

}  // namespace fm::ui
