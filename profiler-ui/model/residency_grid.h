#pragma once
// The residency of one request as the heatmap sees it: a state per logical page plus, per page and
// CSA layer, the Level-2 use and whether that layer selected the page this cycle. Built by the
// store from snapshots and Page events (store/residency_cursor.h); pure data, no ImGui.

#include <cstdint>
#include <limits>
#include <vector>

namespace fm::ui {

// Same values as fm::traces::PageState; kept as bytes so the grid copies a snapshot with memcpy.
inline constexpr uint8_t kPageCold = 0;
inline constexpr uint8_t kPageFetching = 1;
inline constexpr uint8_t kPageHot = 2;
inline constexpr uint8_t kPageDirty = 3;
inline constexpr uint8_t kPageWritingBack = 4;
inline constexpr int64_t kNeverNs = std::numeric_limits<int64_t>::min();

struct ResidencyGrid {
  uint32_t request_id = 0;
  int layers = 0;                          // CSA layers (rows of the heatmap), <= 32
  std::vector<uint8_t> state;              // per page
  std::vector<uint8_t> l2_use;             // pages * layers, page-major; empty when not recorded
  std::vector<uint32_t> layer_mask;        // per page: CSA layers that picked it (latest Page event)
  std::vector<int64_t> selected_ns;        // per page: time of the latest non-zero layer mask
  std::vector<int64_t> evicted_ns;         // per page: last Hot/Dirty/WritingBack -> Cold, or kNeverNs
  std::vector<int64_t> fetch_start_ns;     // per page: last -> Fetching transition, or kNeverNs
  std::vector<int64_t> fetch_latency_ns;   // per page: last Fetching -> Hot duration, -1 unknown
  int64_t cycle_start_ns = kNeverNs;       // latest Select of this request: "this cycle" starts here

  uint32_t pages() const { return static_cast<uint32_t>(state.size()); }
  // Resizes every per-page array to `pages` (new pages are Cold, never selected or evicted).
  void Resize(uint32_t pages, int csa_layers);
  uint8_t L2Use(uint32_t page, int layer) const;
  // Applies a page state change at t_ns with the event's layer mask (DESIGN.md §6, kind 8).
  void ApplyPageEvent(uint32_t page, uint8_t new_state, uint32_t mask, int64_t t_ns);
};

}  // namespace fm::ui
