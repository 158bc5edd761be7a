#pragma once
// The client end of the live stream: connects to a runtime's Unix or TCP socket, sends Control
// frames and feeds received bytes into a FrameDecoder. Used by the profiler UI's net thread and by
// tests. One thread per client; not thread-safe.

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "traces/frame_codec.h"

namespace fm::traces {

class WireClient {
 public:
  static absl::StatusOr<std::unique_ptr<WireClient>> ConnectUnix(const std::string& path);
  // `host` must be a numeric IPv4 address ("127.0.0.1").
  static absl::StatusOr<std::unique_ptr<WireClient>> ConnectTcp(int port,
                                                                const std::string& host = "127.0.0.1");
  ~WireClient();
  WireClient(const WireClient&) = delete;
  WireClient& operator=(const WireClient&) = delete;

  // Sends one frame numbered with this client's next seq (returned through *seq when non-null).
  absl::Status Send(FrameKind kind, std::span<const uint8_t> payload, uint32_t* seq = nullptr);
  // Sends raw bytes (tests: half frames, garbage).
  absl::Status SendRaw(std::span<const uint8_t> bytes);

  // Waits up to `timeout_ms` for data and feeds what arrives to decoder(). Returns the bytes read
  // (0 on timeout); Unavailable once the runtime closed the connection.
  absl::StatusOr<size_t> Receive(int timeout_ms);

  FrameDecoder& decoder() { return decoder_; }
  // Shrinks the kernel receive buffer (tests: make a slow client fill up quickly).
  void SetReceiveBufferBytes(int bytes);
  void Close();

 private:
  WireClient(int fd, std::string peer);
  int fd_;
  uint32_t next_seq_ = 0;
  FrameDecoder decoder_;
};

}  // namespace fm::traces
