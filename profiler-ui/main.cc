// flashmem-ui [--connect unix:PATH|unix:DIR/|tcp:127.0.0.1:PORT] [FILE.fmtrace] [--compare B.fmtrace]
//             [--screenshot OUT.png [--frames N] [--size WxH]] [--export-json OUT.json]
// The live residency and fetch-latency profiler (DESIGN.md §8).

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "profiler-ui/shell.h"
#include "traces/chrome_export.h"
#include "traces/socket_server.h"

namespace {

bool ParseSize(const std::string& text, int* w, int* h) {
  const size_t x = text.find('x');
  if (x == std::string::npos) return false;
  return absl::SimpleAtoi(text.substr(0, x), w) && absl::SimpleAtoi(text.substr(x + 1), h) && *w >= 320 && *h >= 240 &&
         *w <= 8192 && *h <= 8192;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"flashmem-ui: live KV residency and fetch-latency profiler"};
  fm::ui::ShellOptions o;
  std::string replay, size, export_json, window;
  app.add_option("file", o.trace_file, "a .fmtrace file to replay");
  app.add_option("--replay", replay, "same as the positional FILE");
  app.add_option("--connect", o.connect, "live: unix:PATH, unix:DIR/ (newest runtime), tcp:PORT or tcp:127.0.0.1:PORT; default: the newest runtime in the default socket folder");
  app.add_option("--compare", o.compare_file, "a second .fmtrace to compare against (overlay, deltas)");
  app.add_option("--screenshot", o.screenshot, "render --frames frames, save this PNG and exit");
  app.add_option("--frames", o.frames, "frames to render before the screenshot (default 3)");
  app.add_option("--size", size, "window size WxH (default 1600x900)");
  app.add_option("--export-json", export_json, "convert FILE to Perfetto/Chrome JSON and exit");
  app.add_option("--window", window, "initial timeline window A:B in seconds from the session start");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (!replay.empty()) o.trace_file = replay;
  if (!size.empty() && !ParseSize(size, &o.width, &o.height)) {
    std::fprintf(stderr, "flashmem-ui: --size '%s': expected WxH within 320x240..8192x8192\n", size.c_str());
    return 2;
  }
  if (o.frames < 1) o.frames = 1;
  if (!window.empty()) {
    const size_t colon = window.find(':');
    if (colon == std::string::npos || !absl::SimpleAtod(window.substr(0, colon), &o.window_from_s) ||
        !absl::SimpleAtod(window.substr(colon + 1), &o.window_to_s) || o.window_from_s < 0 ||
        o.window_to_s <= o.window_from_s) {
      std::fprintf(stderr, "flashmem-ui: --window '%s': expected A:B seconds with 0 <= A < B\n", window.c_str());
      return 2;
    }
  }
  if (!export_json.empty()) {
    if (o.trace_file.empty()) {
      std::fprintf(stderr, "flashmem-ui: --export-json needs a trace FILE\n");
      return 2;
    }
    absl::StatusOr<fm::traces::ExportResult> r =
        fm::traces::ExportChromeJson(o.trace_file, export_json, fm::traces::ExportOptions{});
    if (!r.ok()) {
      std::fprintf(stderr, "flashmem-ui: %s\n", std::string(r.status().message()).c_str());
      return 1;
    }
    std::printf("flashmem-ui: wrote %s (%llu events)\n", export_json.c_str(),
                static_cast<unsigned long long>(r->trace_events));
    return 0;
  }
  if (o.trace_file.empty() && o.connect.empty()) {
    // No source given: follow the newest runtime in the default socket folder (DESIGN.md §7).
    o.connect = "unix:" + fm::traces::DefaultSocketDir(std::getenv("XDG_RUNTIME_DIR"), std::getenv("TMPDIR"), ::getuid()) + "/";
  }
  o.deterministic = !o.screenshot.empty();
  return fm::ui::RunShell(o);
}
