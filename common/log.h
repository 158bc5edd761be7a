#pragma once
// One-line logging to stderr. The decode loop never logs per step; it emits telemetry instead.

#include <cstdio>
#include <string_view>

namespace fm {

enum LogLevel { kInfo = 0, kWarning = 1, kError = 2 };

inline void Log(LogLevel level, std::string_view message) {
  static constexpr const char* kTags[] = {"I", "W", "E"};
  std::fprintf(stderr, "[flashmem %s] %.*s\n", kTags[level], static_cast<int>(message.size()),
               message.data());
}

}  // namespace fm
