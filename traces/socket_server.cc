#include "traces/socket_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "traces/payloads.h"

namespace fm::traces {

struct SocketServer::Client {
  Client(int fd_in, uint32_t id_in)
      : fd(fd_in), id(id_in), decoder(absl::StrFormat("socket client %d", id_in)) {}
  int fd;
  uint32_t id;
  FrameDecoder decoder;
  std::deque<EncodedFrame> queue;  // headers already carry this client's seq
  size_t queued_bytes = 0;
  size_t front_sent = 0;  // bytes of queue.front() already written
  uint32_t next_seq = 0;
  bool dead = false;
  bool closing = false;  // a Bye is queued: close once the queue drains
};

namespace {

constexpr size_t kReadChunkBytes = 64 << 10;
constexpr size_t kMaxReadPerPollBytes = 1 << 20;  // a chatty client cannot monopolise the drain

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrFormat("%s: %s", what, std::strerror(errno)));
}

}  // namespace

std::string DefaultSocketDir(const char* xdg_runtime_dir, const char* tmpdir, uint32_t uid) {
  if (xdg_runtime_dir != nullptr && xdg_runtime_dir[0] != '\0') {
    return std::string(xdg_runtime_dir) + "/flashmem";
  }
  std::string base = (tmpdir != nullptr && tmpdir[0] != '\0') ? tmpdir : "/tmp";
  return absl::StrFormat("%s/flashmem-%d", base, uid);
}

absl::Status EnsurePrivateDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Errno("mkdir " + dir);
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return Errno("stat " + dir);
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::getuid() || (st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: mode %o owner %d, expected a directory with mode 0700 owned by uid %d", dir,
        st.st_mode & 07777, st.st_uid, ::getuid()));
  }
  return absl::OkStatus();
}

SocketServer::SocketServer(SocketServerOptions options) : options_(std::move(options)) {
  stats_.name = "socket";
}

SocketServer::~SocketServer() { End(); }

absl::StatusOr<std::shared_ptr<SocketServer>> SocketServer::Listen(SocketServerOptions options) {
  if (options.unix_path.empty() && options.tcp_port < 0) {
    return absl::InvalidArgumentError(
        "telemetry socket: neither unix_path nor tcp_port given, expected at least one");
  }
  if (options.tcp_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrFormat("telemetry socket: tcp_port %d, expected 0..65535", options.tcp_port));
  }
  std::shared_ptr<SocketServer> s(new SocketServer(std::move(options)));
  FM_RETURN_IF_ERROR(s->OpenListeners());
  return s;
}

absl::Status SocketServer::OpenListeners() {
  if (!options_.unix_path.empty()) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (options_.unix_path.size() >= sizeof(addr.sun_path)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "telemetry socket path '%s': %d bytes, expected < %d", options_.unix_path,
          options_.unix_path.size(), sizeof(addr.sun_path)));
    }
    std::memcpy(addr.sun_path, options_.unix_path.c_str(), options_.unix_path.size() + 1);
    struct stat st;
    if (::lstat(options_.unix_path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "telemetry socket path '%s' exists and is not a socket", options_.unix_path));
      }
      ::unlink(options_.unix_path.c_str());  // stale socket of a dead runtime
    }
    unix_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (unix_fd_ < 0) return Errno("socket(AF_UNIX)");
    if (::bind(unix_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return Errno("bind " + options_.unix_path);
    }
    // The containing folder is 0700 (EnsurePrivateDir); the socket itself is 0600 as well.
    if (::chmod(options_.unix_path.c_str(), 0600) != 0) return Errno("chmod " + options_.unix_path);
    if (::listen(unix_fd_, 8) != 0) return Errno("listen " + options_.unix_path);
  }
  if (options_.tcp_port >= 0) {
    tcp_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tcp_fd_ < 0) return Errno("socket(AF_INET)");
    int one = 1;
    ::setsockopt(tcp_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(options_.tcp_port));
    addr.sin_addr.s_addr = htonl(options_.tcp_bind_any ? INADDR_ANY : INADDR_LOOPBACK);
    if (::bind(tcp_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return Errno(absl::StrFormat("bind tcp port %d", options_.tcp_port));
    }
    if (::listen(tcp_fd_, 8) != 0) return Errno("listen tcp");
    socklen_t len = sizeof(addr);
    ::getsockname(tcp_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    bound_tcp_port_ = ntohs(addr.sin_port);
  }
  return absl::OkStatus();
}

void SocketServer::Begin(std::span<const EncodedFrame> preamble) {
  (void)preamble;  // every client gets its own preamble when it connects
}

void SocketServer::Enqueue(Client& c, const EncodedFrame& frame) {
  const uint32_t seq = c.next_seq++;
  if (c.queued_bytes + frame.bytes.size() > options_.client_queue_bytes) {
    if (frame.kind == FrameKind::kEvents) {
      MutexLock lock(&mu_);
      ++stats_.frames_dropped;  // the seq was consumed: the client sees the gap
      return;
    }
    if (frame.kind == FrameKind::kSnapshot) {
      // Only the newest state matters: unsent older snapshots make room for it.
      for (auto it = c.queue.begin(); it != c.queue.end();) {
        bool started = it == c.queue.begin() && c.front_sent > 0;
        if (it->kind == FrameKind::kSnapshot && !started) {
          c.queued_bytes -= it->bytes.size();
          it = c.queue.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
  if (c.queued_bytes + frame.bytes.size() > 2 * options_.client_queue_bytes) {
    // Even frames that are never dropped (definitions, snapshots, replies) are bounded: a client
    // this far behind, e.g. one that sends Control frames but never reads, is disconnected.
    c.dead = true;
    MutexLock lock(&mu_);
    ++stats_.frames_dropped;
    return;
  }
  EncodedFrame copy = frame;
  SetFrameSeq(copy.bytes, seq);
  c.queued_bytes += copy.bytes.size();
  c.queue.push_back(std::move(copy));
}

void SocketServer::Deliver(const EncodedFrame& frame) {
  for (auto& c : clients_) {
    if (!c->dead && !c->closing) Enqueue(*c, frame);
  }
}

void SocketServer::Accept(int listen_fd, PreambleSource& preamble) {
  while (true) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: no more pending connections (or a transient error)
    if (listen_fd == tcp_fd_) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    auto c = std::make_unique<Client>(fd, next_client_id_++);
    if (clients_.size() >= options_.max_clients) {
      {
        MutexLock lock(&mu_);
        ++rejected_;  // counted before the hangup, so whoever sees the hangup sees the count
      }
      Enqueue(*c, EncodeFrame(FrameKind::kBye,
                              EncodeBye(absl::StrFormat("too many subscribers (limit %d)",
                                                        options_.max_clients))));
      WriteTo(*c);  // best effort; the client is refused either way
      ::close(fd);
      continue;
    }
    for (const EncodedFrame& f : preamble.BuildPreamble()) Enqueue(*c, f);
    clients_.push_back(std::move(c));
    MutexLock lock(&mu_);
    ++accepted_;
    client_count_ = clients_.size();  // before any byte is written to the client
  }
}

bool SocketServer::WriteTo(Client& c) {
  while (!c.queue.empty()) {
    const EncodedFrame& f = c.queue.front();
    ssize_t n = ::send(c.fd, f.bytes.data() + c.front_sent, f.bytes.size() - c.front_sent,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      return false;  // EPIPE, ECONNRESET: the client is gone
    }
    c.front_sent += static_cast<size_t>(n);
    if (c.front_sent == f.bytes.size()) {
      {
        MutexLock lock(&mu_);
        ++stats_.frames_sent;
        stats_.bytes += f.bytes.size();
      }
      c.queued_bytes -= f.bytes.size();
      c.queue.pop_front();
      c.front_sent = 0;
    }
  }
  return !c.closing;  // a closing client is done once its Bye is out
}

void SocketServer::HandleFrame(Client& c, const FrameView& f) {
  switch (static_cast<FrameKind>(f.kind)) {
    case FrameKind::kControl: {
      ControlReply reply;
      reply.control_seq = f.seq;
      absl::StatusOr<ControlMessage> m = DecodeControl(f.payload);
      const bool set_param = m.ok() && m->op == ControlOp::kSetParam;
      absl::Status st;
      if (!m.ok()) {
        st = m.status();
      } else if (options_.controls == nullptr) {
        st = absl::UnimplementedError("this runtime accepts no Control frames");
      } else {
        m->client_id = c.id;
        m->frame_seq = f.seq;
        st = options_.controls->Submit(*std::move(m));
      }
      reply.code = st.code();
      // Knobs wait for each request's boundary; the other ops take effect between two steps.
      reply.message = !st.ok()    ? std::string(st.message())
                      : set_param ? "accepted: applies at the next cycle boundary"
                                  : "accepted: applies before the next decode step";
      Enqueue(c, EncodeFrame(FrameKind::kControlReply, EncodeControlReply(reply)));
      return;
    }
    case FrameKind::kBye:
      c.dead = true;
      return;
    default:
      return;  // clients send only Control and Bye; anything else is ignored
  }
}

void SocketServer::SendRuntimeReplies() {
  if (options_.controls == nullptr) return;
  std::vector<std::pair<uint32_t, ControlReply>> replies;
  if (options_.controls->TakeReplies(&replies) == 0) return;
  for (const auto& [client_id, reply] : replies) {
    for (auto& c : clients_) {
      if (c->id == client_id && !c->dead && !c->closing) {
        Enqueue(*c, EncodeFrame(FrameKind::kControlReply, EncodeControlReply(reply)));
      }
    }
  }
}

bool SocketServer::ReadFrom(Client& c) {
  uint8_t buf[kReadChunkBytes];
  size_t total = 0;
  while (total < kMaxReadPerPollBytes) {
    ssize_t n = ::recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) return false;  // orderly close (possibly mid-frame: nothing partial is used)
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      if (errno == EINTR) continue;
      return false;
    }
    total += static_cast<size_t>(n);
    c.decoder.Feed(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
    while (true) {
      absl::StatusOr<std::optional<FrameView>> f = c.decoder.Next();
      if (!f.ok()) {
        // A damaged stream cannot be resynchronised safely: say why, then hang up.
        Enqueue(c, EncodeFrame(FrameKind::kBye, EncodeBye(std::string(f.status().message()))));
        c.closing = true;
        return true;
      }
      if (!f->has_value()) break;
      HandleFrame(c, **f);
      if (c.dead) return false;
    }
  }
  return true;
}

bool SocketServer::Poll(PreambleSource& preamble, int wait_ms) {
  if (ended_) return false;
  RemoveDead();  // clients Deliver() gave up on since the last poll
  SendRuntimeReplies();
  std::vector<pollfd> fds;
  if (unix_fd_ >= 0) fds.push_back(pollfd{unix_fd_, POLLIN, 0});
  if (tcp_fd_ >= 0) fds.push_back(pollfd{tcp_fd_, POLLIN, 0});
  const size_t first_client = fds.size();
  for (auto& c : clients_) {
    short events = static_cast<short>(c->closing ? 0 : POLLIN);
    if (!c->queue.empty()) events = static_cast<short>(events | POLLOUT);
    fds.push_back(pollfd{c->fd, events, 0});
  }
  int ready = ::poll(fds.data(), fds.size(), wait_ms);
  if (ready <= 0) return wait_ms > 0;
  for (size_t i = 0; i < first_client; ++i) {
    if (fds[i].revents & POLLIN) Accept(fds[i].fd, preamble);
  }
  for (size_t i = first_client; i < fds.size(); ++i) {
    Client& c = *clients_[i - first_client];
    short re = fds[i].revents;
    if ((re & POLLIN) && !ReadFrom(c)) c.dead = true;
    if (!c.dead && (re & POLLOUT) && !WriteTo(c)) c.dead = true;
    if (!c.dead && (re & (POLLERR | POLLNVAL))) c.dead = true;
    if (!c.dead && (re & POLLHUP) && !(re & POLLIN)) c.dead = true;
  }
  RemoveDead();
  return wait_ms > 0;
}

void SocketServer::RemoveDead() {
  size_t before = clients_.size();
  for (auto it = clients_.begin(); it != clients_.end();) {
    if ((*it)->dead) {
      ::close((*it)->fd);
      it = clients_.erase(it);
    } else {
      ++it;
    }
  }
  if (clients_.size() != before) {
    MutexLock lock(&mu_);
    client_count_ = clients_.size();
  }
}

void SocketServer::End() {
  if (ended_) return;
  ended_ = true;
  for (auto& c : clients_) {
    if (c->dead) continue;
    Enqueue(*c, EncodeFrame(FrameKind::kBye, EncodeBye("runtime shutting down")));
    c->closing = true;
    WriteTo(*c);  // best effort, non-blocking: a client that is not reading loses the tail
    ::close(c->fd);
  }
  clients_.clear();
  if (unix_fd_ >= 0) {
    ::close(unix_fd_);
    ::unlink(options_.unix_path.c_str());
    unix_fd_ = -1;
  }
  if (tcp_fd_ >= 0) {
    ::close(tcp_fd_);
    tcp_fd_ = -1;
  }
  MutexLock lock(&mu_);
  client_count_ = 0;
}

SinkStats SocketServer::stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

size_t SocketServer::client_count() const {
  MutexLock lock(&mu_);
  return client_count_;
}

uint64_t SocketServer::clients_accepted() const {
  MutexLock lock(&mu_);
  return accepted_;
}

uint64_t SocketServer::clients_rejected() const {
  MutexLock lock(&mu_);
  return rejected_;
}

}  // namespace fm::traces
