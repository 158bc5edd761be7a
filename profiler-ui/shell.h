#pragma once
// The GLFW + OpenGL3 window around DrawApp: the frame loop, the live poll or the loaded replay,
// the heatmap texture, screenshots (glReadPixels of the back buffer before the swap, written with
// our own PNG encoder) and Perfetto export through traces/.

#include <cstdint>
#include <optional>
#include <string>

namespace fm::ui {

struct ShellOptions {
  std::string trace_file;     // replay (or empty)
  std::string connect;        // live address (or empty)
  std::string compare_file;   // a second trace to compare against (optional)
  std::string screenshot;     // write this PNG after `frames` frames and exit
  int frames = 3;
  int width = 1600;
  int height = 900;
  bool deterministic = false; // fixed DeltaTime, no mouse: set for --screenshot
  // Initial timeline window in seconds from the session start (both < 0: the whole session).
  double window_from_s = -1;
  double window_to_s = -1;
};

// Runs until the window closes (or the screenshot is written). Returns the process exit code:
// 0 on success, 1 when the window/GL could not start or the screenshot could not be written.
int RunShell(const ShellOptions& options);

}  // namespace fm::ui
