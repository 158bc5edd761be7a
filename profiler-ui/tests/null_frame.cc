#include "profiler-ui/tests/null_frame.h"

namespace fm::ui::testing {

NullUi::NullUi(float width, float height) : ctx_(ImGui::CreateContext()) {
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;
  io.LogFilename = nullptr;
  io.DisplaySize = ImVec2(width, height);
  io.DeltaTime = 1.0f / 60.0f;
  unsigned char* pixels;
  int w, h;
  io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);  // the built-in font; no renderer needs it
  io.Fonts->SetTexID(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(1)));
  io.MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
  ImGui::StyleColorsDark();
}

NullUi::~NullUi() { ImGui::DestroyContext(ctx_); }

void NullUi::Frame(ViewState& v, const AppInputs& in) {
  ImGui::NewFrame();
  DrawApp(v, in);
  ImGui::Render();
  last_vertices_ = ImGui::GetDrawData()->TotalVtxCount;
  io().MouseWheel = 0;
}

ImRect NullUi::WindowRect(const char* name) const {
  ImGuiWindow* w = ImGui::FindWindowByName(name);
  return w ? w->Rect() : ImRect();
}

ImGuiID NullUi::ItemId(const char* window, const char* label) const {
  ImGuiWindow* w = ImGui::FindWindowByName(window);
  return w ? w->GetID(label) : 0;
}

bool NullUi::FindItem(ViewState& v, const AppInputs& in, const char* window, const char* label, ImVec2* at) {
  const ImRect r = WindowRect(window);
  const ImGuiID id = ItemId(window, label);
  for (float x = r.Min.x + 12; x < r.Max.x; x += 40) {
    for (float y = r.Min.y + 2; y < r.Max.y; y += 4) {
      MouseTo(ImVec2(x, y));
      Frame(v, in);
      if (ImGui::GetCurrentContext()->HoveredId == id) {
        *at = ImVec2(x, y);
        return true;
      }
    }
  }
  return false;
}

}  // namespace fm::ui::testing
