#include "profiler-ui/net/discover.h"

#include <filesystem>
#include <system_error>

namespace fm::ui {

std::optional<std::string> NewestSocket(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return std::nullopt;
  std::optional<std::string> best;
  fs::file_time_type best_time{};
  // Bounded: a folder with thousands of entries is not a runtime folder; stop looking.
  int scanned = 0;
  for (; it != fs::directory_iterator() && scanned < 4096; it.increment(ec), ++scanned) {
    if (ec) break;
    const fs::path& p = it->path();
    if (p.extension() != ".sock") continue;
    const fs::file_time_type t = fs::last_write_time(p, ec);
    if (ec) continue;
    if (!best || t > best_time || (t == best_time && p.string() > *best)) {
      best = p.string();
      best_time = t;
    }
  }
  return best;
}

}  // namespace fm::ui
