#include "profiler-ui/views/controls_view.h"

#include <cmath>

#include "absl/strings/str_format.h"
#include "profiler-ui/views/draw_util.h"

namespace fm::ui {

void UpdateSentControls(ViewState& v, const Store& s) {
  for (SentControl& c : v.sent) {
    // The socket accepts a valid control at once; the engine may still refuse it later with a
    // second reply of the same seq, and that refusal is what the user must see.
    for (const traces::ControlReply& r : s.control_replies()) {
      if (r.control_seq == c.seq && (!c.reply || r.code != absl::StatusCode::kOk)) {
        c.reply = r.code;
        c.reply_message = r.message;
      }
    }
    if (!c.applied_ns && !c.param.empty()) {
      for (const ParamRec& p : s.params_applied()) {
        if (p.t_ns >= c.sent_at_ns && p.name == c.param && std::fabs(p.value - c.value) <= 1e-9 * std::max(1.0, std::fabs(c.value))) {
          c.applied_ns = p.t_ns;
          break;
        }
      }
    }
  }
}

bool SendParam(ViewState& v, const Store& s, ControlSink* sink, const char* name, double value) {
  if (sink == nullptr || !sink->connected()) {
    v.status_line = "controls need a live connection";
    return false;
  }
  traces::ControlMessage m;
  m.op = traces::ControlOp::kSetParam;
  m.param = name;
  m.value = value;
  m.request_id = traces::kAllRequests;
  absl::StatusOr<uint32_t> seq = sink->Send(m);
  if (!seq.ok()) {
    v.status_line = absl::StrFormat("sending %s failed: %s", name, seq.status().message());
    return false;
  }
  SentControl c;
  c.seq = *seq;
  c.param = name;
  c.value = value;
  c.sent_at_ns = s.has_data() ? s.last_ns() : 0;
  v.sent.push_back(c);
  if (v.sent.size() > 64) v.sent.erase(v.sent.begin());
  return true;
}

void DrawControls(ViewState& v, const Store& s, ControlSink* sink) {
  if (!v.controls_seeded && s.params()) {
    v.tau_steps = static_cast<int>(s.params()->tau_steps);
    v.threshold = static_cast<float>(s.params()->threshold);
    v.kmax_pages = static_cast<int>(s.params()->kmax_pages);
    v.controls_seeded = true;
  }
  const bool enabled = sink != nullptr && sink->connected();
  if (!enabled) ImGui::TextDisabled("replay: controls need a live runtime");
  ImGui::BeginDisabled(!enabled);
  ImGui::SetNextItemWidth(120);
  ImGui::InputInt("tau (steps)", &v.tau_steps);
  ImGui::SetNextItemWidth(120);
  ImGui::SliderFloat("threshold", &v.threshold, 0.01f, 0.99f, "%.3f");
  ImGui::SetNextItemWidth(120);
  ImGui::InputInt("KMAX (pages)", &v.kmax_pages);
  if (ImGui::Button("Apply")) {
    const traces::ParamsSection cur = s.params().value_or(traces::ParamsSection{});
    if (static_cast<uint32_t>(v.tau_steps) != cur.tau_steps) SendParam(v, s, sink, traces::kParamTau, v.tau_steps);
    if (std::fabs(v.threshold - cur.threshold) > 1e-6) SendParam(v, s, sink, traces::kParamThreshold, v.threshold);
    if (static_cast<uint32_t>(v.kmax_pages) != cur.kmax_pages) SendParam(v, s, sink, traces::kParamKmax, v.kmax_pages);
  }
  ImGui::SameLine();
  if (ImGui::Checkbox("pause decoding", &v.paused) && enabled) {
    traces::ControlMessage m;
    m.op = traces::ControlOp::kSetPaused;
    m.paused = v.paused;
    absl::StatusOr<uint32_t> seq = sink->Send(m);
    if (seq.ok()) {
      SentControl c;
      c.seq = *seq;
      c.sent_at_ns = s.has_data() ? s.last_ns() : 0;
      v.sent.push_back(c);
    } else {
      v.status_line = absl::StrFormat("pause failed: %s", seq.status().message());
    }
  }
  ImGui::EndDisabled();
  UpdateSentControls(v, s);
  for (auto it = v.sent.rbegin(); it != v.sent.rend(); ++it) {
    const SentControl& c = *it;
    const std::string what = c.param.empty() ? std::string(v.paused ? "pause" : "resume") : absl::StrFormat("%s = %g", c.param, c.value);
    if (c.applied_ns) {
      ImGui::TextColored(ImVec4(0.4f, 0.9f, 0.5f, 1), "%s: applied at %s", what.c_str(),
                         FormatNs(static_cast<double>(*c.applied_ns - s.first_ns())).c_str());
    } else if (c.reply && *c.reply != absl::StatusCode::kOk) {
      ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s: rejected: %s", what.c_str(), c.reply_message.c_str());
    } else if (c.reply) {
      ImGui::Text("%s: accepted, waiting for the cycle boundary", what.c_str());
    } else {
      ImGui::TextDisabled("%s: sent (seq %u)", what.c_str(), c.seq);
    }
  }
}

}  // namespace fm::ui
