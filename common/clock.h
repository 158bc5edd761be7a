#pragma once
// The session clock: CLOCK_MONOTONIC nanoseconds. Every t_ns in telemetry is on this clock relative
// to the session epoch (DESIGN.md §6).

#include <cstdint>
#include <ctime>

namespace fm {

// Monotonic nanoseconds since an arbitrary fixed point (boot). Thread-safe, never blocks.
inline int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Wall-clock nanoseconds since the Unix epoch. Only for file headers and Hello frames.
inline int64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace fm
