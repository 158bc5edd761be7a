#pragma once
// Residency heatmap: pages (x) x CSA layers (y) of one request at the replay cursor (or the newest
// data live). Hue is the cell class (cold / hot / in flight / just evicted / selected this cycle),
// brightness the Level-2 use. The image is built per pixel column on the CPU (heatmap_color.h) and
// drawn through a texture, so 4096 x 21 cells cost one quad. Wheel zooms around the page under the
// cursor, left drag pans, hover shows page, token range, density and the last fetch latency.

#include "profiler-ui/store/store.h"
#include "profiler-ui/views/view_state.h"

namespace fm::ui {

// `tex` may be null (null renderer): the image is then drawn as rectangles of equal-colour runs.
void DrawHeatmap(ViewState& v, const Store& s, TextureSink* tex);

// The replay/live time the heatmap shows.
int64_t HeatmapTime(const ViewState& v, const Store& s);

// Zoom the page window [page_begin, page_end) by 1.25^-wheel around `anchor_page`, keeping at least
// 4 pages visible and the window inside [0, pages].
void ZoomPages(ViewState& v, double anchor_page, double wheel, uint32_t pages);

}  // namespace fm::ui
