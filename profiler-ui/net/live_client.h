#pragma once
// Live mode: a connection to a running flashmem's telemetry socket, polled from the UI thread once
// per frame (non-blocking, with a byte budget so a busy runtime cannot stall drawing). When the
// runtime goes away it reconnects by itself with backoff (250 ms doubling to 2 s); a restarted
// runtime sends a new Hello, which starts a new session in the store. Also the ControlSink.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "profiler-ui/store/store.h"
#include "profiler-ui/views/view_state.h"
#include "traces/socket_client.h"

namespace fm::ui {

struct Address {
  // kUnixDir follows whichever runtime is newest in a socket folder (reconnects across restarts).
  enum class Kind { kUnix, kUnixDir, kTcp } kind = Kind::kUnix;
  std::string path;  // kUnix: the socket; kUnixDir: the folder
  std::string host = "127.0.0.1";
  int port = 0;      // kTcp
  std::string ToString() const;
};

// Parses "unix:PATH", "unix:DIR/" (trailing slash: the newest runtime in DIR), "tcp:PORT" or
// "tcp:127.0.0.1:PORT". InvalidArgument naming the text and
// the accepted forms otherwise (only numeric IPv4 hosts; the runtime binds loopback by default).
absl::StatusOr<Address> ParseAddress(const std::string& text);

class LiveClient : public ControlSink {
 public:
  static constexpr int64_t kMinBackoffNs = 250'000'000;
  static constexpr int64_t kMaxBackoffNs = 2'000'000'000;
  static constexpr size_t kBytesPerPoll = 16u << 20;

  explicit LiveClient(Address address);

  // Connects when due, reads what is available (up to kBytesPerPoll) and ingests the frames.
  // `now_ns` is any monotonic clock (the tests drive it); `wait_ms` bounds the wait for the first
  // bytes (0 in the UI loop). Returns the number of frames ingested.
  size_t Poll(Store* store, int64_t now_ns, int wait_ms = 0);

  bool connected() const override { return client_ != nullptr; }
  absl::StatusOr<uint32_t> Send(const traces::ControlMessage& m) override;

  // "connected", "connecting...", "disconnected: <why>; retry in 0.5 s".
  std::string StateText(int64_t now_ns) const;
  uint64_t connects() const { return connects_; }
  const Address& address() const { return address_; }

 private:
  void Disconnect(const absl::Status& why, int64_t now_ns);

  Address address_;
  std::unique_ptr<traces::WireClient> client_;
  int64_t next_attempt_ns_ = 0;
  int64_t backoff_ns_ = kMinBackoffNs;
  uint64_t connects_ = 0;
  uint64_t gaps_reported_ = 0;
  std::string last_error_;
};

}  // namespace fm::ui
