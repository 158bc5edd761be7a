#include "profiler-ui/shell.h"

#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>

#include <cfloat>
#include <chrono>
#include <cstdio>
#include <memory>

#include "absl/strings/str_format.h"
#include "imgui.h"
#include "profiler-ui/gfx/gl_texture.h"
#include "profiler-ui/gfx/png_writer.h"
#include "profiler-ui/net/file_replay.h"
#include "profiler-ui/net/live_client.h"
#include "profiler-ui/views/app.h"
#include "traces/chrome_export.h"

namespace fm::ui {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void OnGlfwError(int code, const char* text) { std::fprintf(stderr, "flashmem-ui: GLFW error %d: %s\n", code, text); }

std::string ExportJson(const ViewState& v, const std::string& trace_file) {
  if (trace_file.empty()) return "export needs a trace file (live sessions: record with flashmem --trace)";
  traces::ExportOptions opt;
  if (v.selection) {
    opt.from_ns = v.selection->begin_ns;
    opt.to_ns = v.selection->end_ns;
  }
  const std::string out = trace_file + ".json";
  absl::StatusOr<traces::ExportResult> r = traces::ExportChromeJson(trace_file, out, opt);
  if (!r.ok()) return absl::StrFormat("export failed: %s", r.status().message());
  return absl::StrFormat("exported %d events to %s%s", r->trace_events, out, r->truncated ? " (truncated at the size cap)" : "");
}

}  // namespace

int RunShell(const ShellOptions& o) {
  Store store;
  Store compare;
  ViewState v;
  std::string source;
  std::unique_ptr<LiveClient> live;
  v.show_timing = !o.deterministic;
  if (!o.connect.empty()) {
    absl::StatusOr<Address> addr = ParseAddress(o.connect);
    if (!addr.ok()) {
      std::fprintf(stderr, "flashmem-ui: %s\n", std::string(addr.status().message()).c_str());
      return 2;
    }
    live = std::make_unique<LiveClient>(*addr);
    v.live = true;
    source = "live: " + addr->ToString();
  } else if (!o.trace_file.empty()) {
    const ReplayResult r = LoadTraceFile(o.trace_file, &store);
    if (!r.status.ok()) {
      std::fprintf(stderr, "flashmem-ui: %s\n", std::string(r.status.message()).c_str());
      v.status_line = std::string(r.status.message());
      if (r.frames == 0) return 1;
    }
    source = absl::StrFormat("replay: %s (%s frames)", o.trace_file, std::to_string(r.frames));
    v.cursor_ns = store.last_ns();  // open at the end: the final residency
    if (o.window_to_s > o.window_from_s && o.window_from_s >= 0) {
      v.timeline.Set(TimeRange{store.first_ns() + static_cast<int64_t>(o.window_from_s * 1e9),
                               store.first_ns() + static_cast<int64_t>(o.window_to_s * 1e9)});
      v.timeline_fitted = true;
    }
  }
  if (!o.compare_file.empty()) {
    const ReplayResult r = LoadTraceFile(o.compare_file, &compare);
    if (r.frames == 0) {
      std::fprintf(stderr, "flashmem-ui: compare %s: %s\n", o.compare_file.c_str(), std::string(r.status.message()).c_str());
      return 1;
    }
    v.compare_name = o.compare_file;
  }

  glfwSetErrorCallback(OnGlfwError);
  if (!glfwInit()) return 1;
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
  glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
  if (!o.screenshot.empty()) glfwWindowHint(GLFW_VISIBLE, GLFW_FALSE);
  GLFWwindow* window = glfwCreateWindow(o.width, o.height, "flashmem-ui", nullptr, nullptr);
  if (window == nullptr) {
    glfwTerminate();
    return 1;
  }
  glfwMakeContextCurrent(window);
  glfwSwapInterval(o.screenshot.empty() ? 1 : 0);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // determinism: no layout carried between runs
  ImGui::StyleColorsDark();
  ImGui_ImplGlfw_InitForOpenGL(window, true);
  ImGui_ImplOpenGL3_Init("#version 330");
  int exit_code = 0;
  {
    GlTexture heat_texture;
    AppInputs in;
    in.store = &store;
    in.compare = o.compare_file.empty() ? nullptr : &compare;
    in.texture = &heat_texture;
    in.control = live.get();
    in.source = source;
    int shots = 0;
    for (int frame = 0; !glfwWindowShouldClose(window); ++frame) {
      glfwPollEvents();
      if (live) {
        live->Poll(&store, NowNs());
        in.connection = live->StateText(NowNs());
      }
      ImGui_ImplOpenGL3_NewFrame();
      ImGui_ImplGlfw_NewFrame();
      if (o.deterministic) {
        io.DeltaTime = 1.0f / 60.0f;
        io.MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
      } else {
        v.fixed_delta_s = io.DeltaTime;
      }
      ImGui::NewFrame();
      DrawApp(v, in);
      ImGui::Render();
      int fb_w, fb_h;
      glfwGetFramebufferSize(window, &fb_w, &fb_h);
      glViewport(0, 0, fb_w, fb_h);
      glClearColor(0.08f, 0.08f, 0.10f, 1.0f);
      glClear(GL_COLOR_BUFFER_BIT);
      ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
      if (v.want_screenshot || (!o.screenshot.empty() && frame + 1 >= o.frames)) {
        const std::string path = !o.screenshot.empty() ? o.screenshot : absl::StrFormat("flashmem-ui-%d.png", ++shots);
        const absl::Status s = WritePng(ReadBackBuffer(fb_w, fb_h), path);
        v.status_line = s.ok() ? "saved " + path : std::string(s.message());
        v.want_screenshot = false;
        if (!o.screenshot.empty()) {
          if (!s.ok()) {
            std::fprintf(stderr, "flashmem-ui: %s\n", v.status_line.c_str());
            exit_code = 1;
          }
          std::printf("flashmem-ui: wrote %s (%dx%d), cpu %.2f ms/frame, preprocess %.2f ms/frame\n", path.c_str(), fb_w,
                      fb_h, v.frame_cpu_ms, v.preprocess_ms);
          break;
        }
      }
      if (v.want_export) {
        v.status_line = ExportJson(v, o.trace_file);
        v.want_export = false;
      }
      glfwSwapBuffers(window);
    }
  }
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window);
  glfwTerminate();
  return exit_code;
}

}  // namespace fm::ui
