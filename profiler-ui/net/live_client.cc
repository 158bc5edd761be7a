#include "profiler-ui/net/live_client.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "profiler-ui/net/discover.h"
#include "traces/control.h"

namespace fm::ui {

std::string Address::ToString() const {
  return kind == Kind::kTcp ? absl::StrFormat("tcp:%s:%d", host, port) : "unix:" + path;
}

absl::StatusOr<Address> ParseAddress(const std::string& text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--connect '%s': expected unix:PATH, tcp:PORT or tcp:127.0.0.1:PORT", text));
  };
  Address a;
  if (text.rfind("unix:", 0) == 0) {
    a.path = text.substr(5);
    if (a.path.empty()) return bad();
    a.kind = a.path.back() == '/' ? Address::Kind::kUnixDir : Address::Kind::kUnix;
    return a;
  }
  if (text.rfind("tcp:", 0) != 0) return bad();
  std::string rest = text.substr(4);
  const size_t colon = rest.rfind(':');
  if (colon != std::string::npos) {
    a.host = rest.substr(0, colon);
    rest = rest.substr(colon + 1);
  }
  a.kind = Address::Kind::kTcp;
  if (!absl::SimpleAtoi(rest, &a.port) || a.port <= 0 || a.port > 65535 || a.host.empty()) return bad();
  return a;
}

LiveClient::LiveClient(Address address) : address_(std::move(address)) {}

void LiveClient::Disconnect(const absl::Status& why, int64_t now_ns) {
  if (client_) client_->Close();
  client_.reset();
  last_error_ = std::string(why.message());
  next_attempt_ns_ = now_ns + backoff_ns_;
  backoff_ns_ = std::min(backoff_ns_ * 2, kMaxBackoffNs);
}

size_t LiveClient::Poll(Store* store, int64_t now_ns, int wait_ms) {
  if (!client_) {
    if (now_ns < next_attempt_ns_) return 0;
    std::string unix_path = address_.path;
    if (address_.kind == Address::Kind::kUnixDir) {
      const std::optional<std::string> newest = NewestSocket(address_.path);
      if (!newest) {
        Disconnect(absl::NotFoundError(absl::StrFormat("no runtime socket in %s", address_.path)), now_ns);
        return 0;
      }
      unix_path = *newest;
    }
    absl::StatusOr<std::unique_ptr<traces::WireClient>> c =
        address_.kind == Address::Kind::kTcp ? traces::WireClient::ConnectTcp(address_.port, address_.host)
                                             : traces::WireClient::ConnectUnix(unix_path);
    if (!c.ok()) {
      Disconnect(c.status(), now_ns);
      return 0;
    }
    client_ = *std::move(c);
    ++connects_;
    gaps_reported_ = 0;
    backoff_ns_ = kMinBackoffNs;
    last_error_.clear();
  }
  size_t frames = 0, bytes = 0;
  int wait = wait_ms;
  while (bytes < kBytesPerPoll) {
    absl::StatusOr<size_t> n = client_->Receive(wait);
    wait = 0;
    if (!n.ok()) {
      // Frames already buffered are still good: drain them before dropping the connection.
      while (true) {
        absl::StatusOr<std::optional<traces::FrameView>> f = client_->decoder().Next();
        if (!f.ok() || !f->has_value()) break;
        store->IngestFrame((*f)->kind, (*f)->payload).IgnoreError();  // counted in the store
        ++frames;
      }
      Disconnect(n.status(), now_ns);
      break;
    }
    if (*n == 0) break;
    bytes += *n;
    bool damaged = false;
    while (true) {
      absl::StatusOr<std::optional<traces::FrameView>> f = client_->decoder().Next();
      if (!f.ok()) {
        // A damaged stream cannot be resynchronised: reconnect and get a fresh preamble.
        Disconnect(f.status(), now_ns);
        damaged = true;
        break;
      }
      if (!f->has_value()) break;
      store->IngestFrame((*f)->kind, (*f)->payload).IgnoreError();  // counted in the store
      ++frames;
    }
    if (damaged) break;
  }
  if (client_) {
    const uint64_t gaps = client_->decoder().seq_gap_frames();
    store->AddSeqGapFrames(gaps - gaps_reported_);
    gaps_reported_ = gaps;
  }
  if (frames > 0) store->Commit();
  return frames;
}

absl::StatusOr<uint32_t> LiveClient::Send(const traces::ControlMessage& m) {
  if (!client_) return absl::UnavailableError(absl::StrFormat("%s: not connected", address_.ToString()));
  uint32_t seq = 0;
  const std::vector<uint8_t> payload = traces::EncodeControl(m);
  absl::Status s = client_->Send(traces::FrameKind::kControl, payload, &seq);
  if (!s.ok()) return s;
  return seq;
}

std::string LiveClient::StateText(int64_t now_ns) const {
  if (client_) return "connected";
  if (last_error_.empty()) return "connecting...";
  return absl::StrFormat("disconnected: %s; retry in %.1f s", last_error_,
                         static_cast<double>(std::max<int64_t>(0, next_attempt_ns_ - now_ns)) * 1e-9);
}

}  // namespace fm::ui
