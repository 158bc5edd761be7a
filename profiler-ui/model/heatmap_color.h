#pragma once
// Heatmap colouring: what class a (page, CSA layer) cell is in, its colour (hue = class, brightness
// = Level-2 use), and the per-pixel-column aggregation that keeps a 4096-page x 21-layer request
// readable (and cheap) when several pages share a pixel.

#include <cstdint>
#include <vector>

#include "profiler-ui/model/residency_grid.h"

namespace fm::ui {

// Ordered by drawing priority: when a column covers several pages, the highest class wins, because
// an in-flight or just-selected page is what the user is looking for in a sea of cold ones.
enum class CellClass : uint8_t { kCold = 0, kHot = 1, kJustEvicted = 2, kSelected = 3, kInFlight = 4 };
inline constexpr int kCellClasses = 5;
const char* CellClassName(CellClass c);

// How long a page counts as "just evicted" after leaving the hot pool.
inline constexpr int64_t kJustEvictedNs = 200'000'000;

// Class of cell (page, layer) at time now_ns. Fetching/WritingBack pages are in flight; resident
// pages whose layer picked them this cycle (mask bit set at or after the request's latest Select)
// are selected; other resident pages are hot; cold pages evicted within just_evicted_ns are just
// evicted. Out-of-range cells are cold.
CellClass ClassifyCell(const ResidencyGrid& g, uint32_t page, int layer, int64_t now_ns,
                       int64_t just_evicted_ns = kJustEvictedNs);

// Colour as IM_COL32 packs it (R in the low byte, alpha 255), which is also GL_RGBA byte order on a
// little-endian host. `intensity` in [0, 1] scales brightness from 45 % to 100 %.
uint32_t CellColor(CellClass c, float intensity);

// Brightness of a resident cell from its Level-2 use (1.0 without Level-2 data, so hot pages are
// never drawn dim just because the runtime did not record use counts).
float UseIntensity(const ResidencyGrid& g, uint32_t page, int layer);

// Fills `rgba` (resized to columns * layers, row-major, layer 0 in row 0) with the heatmap of pages
// [page_begin, page_end) squeezed or stretched into `columns` columns. A column spanning several
// pages takes the highest class among them and the mean intensity of that class's cells; a column
// inside one page repeats that page. Returns false (and leaves rgba empty) for an empty grid/view.
bool BuildHeatmapImage(const ResidencyGrid& g, double page_begin, double page_end, int columns,
                       int64_t now_ns, std::vector<uint32_t>* rgba);

// Cells per class over the whole grid at now_ns (index by CellClass), for the legend and the tests.
std::vector<uint64_t> CountClasses(const ResidencyGrid& g, int64_t now_ns);

}  // namespace fm::ui
