#pragma once
// Where the Collector sends frames: a .fmtrace file, the live socket server, a test's memory.
// Every Sink method runs on the telemetry drain thread only, so a Sink needs no locks for its own
// state; stats() is the exception and may be read from any thread.

#include <span>
#include <string>
#include <vector>

#include "traces/frame_codec.h"
#include "traces/payloads.h"

namespace fm::traces {

// Builds the frames that bring a fresh reader up to date: Hello, every StringDef and TrackDef so
// far, then the latest Snapshot. Provided by the Collector; call only on the drain thread.
class PreambleSource {
 public:
  virtual ~PreambleSource() = default;
  virtual std::vector<EncodedFrame> BuildPreamble() = 0;
};

class Sink {
 public:
  virtual ~Sink() = default;

  // Called once, before any Deliver, with the preamble. A sink with several readers (the socket
  // server) ignores it and asks `PreambleSource` for one per new reader in Poll().
  virtual void Begin(std::span<const EncodedFrame> preamble) = 0;

  // One frame in stream order. The sink stamps its own seq into its copy of the header.
  virtual void Deliver(const EncodedFrame& frame) = 0;

  // Called every drain iteration for I/O (accept, write, read Control frames). May wait up to
  // `wait_ms` for I/O readiness when it wants the drain thread to idle in poll(); returns true when
  // it did so (the collector then skips its own idle wait).
  virtual bool Poll(PreambleSource& preamble, int wait_ms) {
    (void)preamble;
    (void)wait_ms;
    return false;
  }

  // Final flush and close. No Deliver follows.
  virtual void End() = 0;

  // Counters for the Stats frame. Thread-safe.
  virtual SinkStats stats() const = 0;
};

}  // namespace fm::traces
