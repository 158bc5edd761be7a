#pragma once
// Controls: τ, threshold, KMAX and pause, sent as Control frames (SetParam / SetPaused) over the
// live connection. Each sent control is listed with its ControlReply and, once a Param event with
// the same name and value arrives, the session time the runtime applied it (also marked on the
// timeline). Disabled in replay.

#include "profiler-ui/store/store.h"
#include "profiler-ui/views/view_state.h"

namespace fm::ui {

void DrawControls(ViewState& v, const Store& s, ControlSink* sink);

// Matches replies (by seq) and Param events (by name, value, time) to v.sent. Idempotent.
void UpdateSentControls(ViewState& v, const Store& s);

// Sends one SetParam and records it in v.sent; false (with v.status_line set) when sending failed.
bool SendParam(ViewState& v, const Store& s, ControlSink* sink, const char* name, double value);

}  // namespace fm::ui
