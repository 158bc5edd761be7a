#pragma once
// A headless ImGui harness (the example_null pattern): a context with a built font atlas, fixed
// display size and DeltaTime, no ini file and no renderer. Tests and the benchmark drive DrawApp
// frame by frame and inject input through the pre-1.87 io fields (MousePos, MouseDown, MouseWheel).

#include "imgui.h"
#include "imgui_internal.h"
#include "profiler-ui/views/app.h"

namespace fm::ui::testing {

class NullUi {
 public:
  NullUi(float width = 1280, float height = 800);
  ~NullUi();
  NullUi(const NullUi&) = delete;
  NullUi& operator=(const NullUi&) = delete;

  // One full frame: NewFrame, DrawApp, Render. Wheel input is consumed by this frame.
  void Frame(ViewState& v, const AppInputs& in);

  void MouseTo(ImVec2 p) { io().MousePos = p; }
  void Button(int button, bool down) { io().MouseDown[button] = down; }
  void Wheel(float steps) { io().MouseWheel = steps; }
  void Ctrl(bool down) { io().KeyCtrl = down; }
  ImGuiIO& io() { return ImGui::GetIO(); }
  // Screen rect of a top-level window (the panes are "Residency", "Timeline", ...).
  ImRect WindowRect(const char* name) const;
  // Item id `label` inside window `window`, as ImGui hashes it at the window's root.
  ImGuiID ItemId(const char* window, const char* label) const;
  // Scans the window at x = window left + dx for a position where `label` is hovered; returns
  // true and the position when found (one frame per probe, so the layout is the real one).
  bool FindItem(ViewState& v, const AppInputs& in, const char* window, const char* label, ImVec2* at);
  // Vertices drawn in the last frame (the benchmark reports it).
  int last_vertices() const { return last_vertices_; }

 private:
  ImGuiContext* ctx_;
  int last_vertices_ = 0;
};

}  // namespace fm::ui::testing
