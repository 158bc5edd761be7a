#include "traces/socket_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"

namespace fm::traces {

WireClient::WireClient(int fd, std::string peer) : fd_(fd), decoder_(std::move(peer)) {}

WireClient::~WireClient() { Close(); }

void WireClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

absl::StatusOr<std::unique_ptr<WireClient>> WireClient::ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("socket path '%s': %d bytes, expected < %d", path, path.size(),
                        sizeof(addr.sun_path)));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrFormat("connect %s: %s", path, std::strerror(e)));
  }
  return std::unique_ptr<WireClient>(new WireClient(fd, "unix:" + path));
}

absl::StatusOr<std::unique_ptr<WireClient>> WireClient::ConnectTcp(int port,
                                                                   const std::string& host) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (port < 0 || port > 65535 || ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("tcp address %s:%d: expected a numeric IPv4 host and port 0..65535", host,
                        port));
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    ::close(fd);
    return absl::UnavailableError(
        absl::StrFormat("connect %s:%d: %s", host, port, std::strerror(e)));
  }
  return std::unique_ptr<WireClient>(new WireClient(fd, absl::StrFormat("tcp:%s:%d", host, port)));
}

absl::Status WireClient::SendRaw(std::span<const uint8_t> bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrFormat("send: %s", std::strerror(errno)));
    }
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status WireClient::Send(FrameKind kind, std::span<const uint8_t> payload, uint32_t* seq) {
  if (payload.size() > kMaxPayloadBytes) {
    return absl::InvalidArgumentError(absl::StrFormat("frame payload %d bytes, expected <= %d",
                                                      payload.size(), kMaxPayloadBytes));
  }
  if (seq != nullptr) *seq = next_seq_;
  EncodedFrame f = EncodeFrame(kind, payload, next_seq_++);
  return SendRaw(f.bytes);
}

absl::StatusOr<size_t> WireClient::Receive(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  int ready = ::poll(&p, 1, timeout_ms);
  if (ready <= 0) return size_t{0};
  uint8_t buf[64 << 10];
  ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
  if (n == 0) return absl::UnavailableError("runtime closed the telemetry connection");
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return size_t{0};
    return absl::UnavailableError(absl::StrFormat("recv: %s", std::strerror(errno)));
  }
  decoder_.Feed(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
  return static_cast<size_t>(n);
}

void WireClient::SetReceiveBufferBytes(int bytes) {
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

}  // namespace fm::traces
