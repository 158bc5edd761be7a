#include "profiler-ui/net/live_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "profiler-ui/net/discover.h"
#include "profiler-ui/tests/synth_fixture.h"
#include "traces/frame_codec.h"
#include "traces/payloads.h"

namespace fm::ui {
namespace {

// A minimal stand-in for a runtime: listens on a Unix socket, sends a session's frames to the one
// client it accepts, then reads one Control frame back.
class FakeRuntime {
 public:
  explicit FakeRuntime(const std::string& path) : path_(path) {
    ::unlink(path.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
  }
  ~FakeRuntime() {
    if (client_ >= 0) ::close(client_);
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  // Accepts a client and sends the frames from another thread (the socket buffer is smaller than
  // the session, so the writer must run while the client reads).
  std::thread ServeOnce(std::vector<testing::FixtureFrame> frames) {
    return std::thread([this, frames = std::move(frames)] {
      client_ = ::accept(fd_, nullptr, nullptr);
      uint32_t seq = 0;
      for (const testing::FixtureFrame& f : frames) {
        const traces::EncodedFrame e = traces::EncodeFrame(f.kind, f.payload, seq++);
        size_t off = 0;
        while (off < e.bytes.size()) {
          const ssize_t n = ::send(client_, e.bytes.data() + off, e.bytes.size() - off, MSG_NOSIGNAL);
          if (n <= 0) return;
          off += static_cast<size_t>(n);
        }
      }
    });
  }
  // Reads until one complete frame arrives (blocking).
  std::optional<std::pair<uint16_t, std::vector<uint8_t>>> ReadFrame() {
    traces::FrameDecoder dec("fake runtime");
    uint8_t buf[4096];
    while (true) {
      absl::StatusOr<std::optional<traces::FrameView>> f = dec.Next();
      if (!f.ok()) return std::nullopt;
      if (f->has_value()) {
        return std::make_pair((*f)->kind, std::vector<uint8_t>((*f)->payload.begin(), (*f)->payload.end()));
      }
      const ssize_t n = ::recv(client_, buf, sizeof buf, 0);
      if (n <= 0) return std::nullopt;
      dec.Feed(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
    }
  }
  void CloseClient() {
    ::shutdown(client_, SHUT_RDWR);
    ::close(client_);
    client_ = -1;
  }

 private:
  std::string path_;
  int fd_ = -1;
  int client_ = -1;
};

TEST(LiveClientTest, ParsesTheAcceptedAddressForms) {
  EXPECT_EQ(ParseAddress("unix:/tmp/x.sock")->path, "/tmp/x.sock");
  EXPECT_EQ(ParseAddress("tcp:9000")->port, 9000);
  const Address a = *ParseAddress("tcp:127.0.0.1:7001");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 7001);
  EXPECT_EQ(a.ToString(), "tcp:127.0.0.1:7001");
  for (const char* bad : {"", "unix:", "tcp:", "tcp:0", "tcp:70000", "udp:1", "tcp:host:x"}) {
    EXPECT_EQ(ParseAddress(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(LiveClientTest, ReceivesASessionSendsControlsAndReconnectsToARestartedRuntime) {
  const std::string path = ::testing::TempDir() + "/fm_ui_live_test.sock";
  testing::FixtureConfig cfg;
  cfg.steps = 64;
  const std::vector<testing::FixtureFrame> frames = testing::MakeFixtureFrames(cfg);
  Store store;
  LiveClient client(*ParseAddress("unix:" + path));
  int64_t now = 0;
  {
    FakeRuntime rt(path);
    std::thread server = rt.ServeOnce(frames);
    size_t got = 0;
    for (int i = 0; i < 10000 && got < frames.size(); ++i) got += client.Poll(&store, now, 100);
    server.join();
    EXPECT_EQ(got, frames.size());
    EXPECT_TRUE(client.connected());
    EXPECT_EQ(client.StateText(now), "connected");
    EXPECT_EQ(store.steps().size(), cfg.steps);
    EXPECT_EQ(store.sessions(), 1u);

    traces::ControlMessage m;
    m.op = traces::ControlOp::kSetParam;
    m.param = "threshold";
    m.value = 0.25;
    absl::StatusOr<uint32_t> seq = client.Send(m);
    ASSERT_TRUE(seq.ok()) << seq.status();
    auto frame = rt.ReadFrame();
    ASSERT_TRUE(frame.has_value());
    EXPECT_EQ(frame->first, static_cast<uint16_t>(traces::FrameKind::kControl));
    absl::StatusOr<traces::ControlMessage> back = traces::DecodeControl(frame->second);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->param, "threshold");
    EXPECT_EQ(back->value, 0.25);
    rt.CloseClient();
    for (int i = 0; i < 100 && client.connected(); ++i) client.Poll(&store, now, 100);
    EXPECT_FALSE(client.connected());
    EXPECT_NE(client.StateText(now).find("retry in"), std::string::npos);
  }
  // The runtime restarts with a new pid: the client retries after its backoff and a new session
  // replaces the old one.
  std::vector<testing::FixtureFrame> restarted = frames;
  traces::Hello h = *traces::DecodeHello(restarted[0].payload);
  h.pid += 1;
  restarted[0].payload = traces::EncodeHello(h);
  FakeRuntime rt2(path);
  std::thread server = rt2.ServeOnce(restarted);
  EXPECT_EQ(client.Poll(&store, now, 0), 0u) << "still inside the backoff";
  now += LiveClient::kMaxBackoffNs;
  size_t got = 0;
  for (int i = 0; i < 10000 && got < restarted.size(); ++i) got += client.Poll(&store, now, 100);
  server.join();
  EXPECT_EQ(client.connects(), 2u);
  EXPECT_EQ(store.sessions(), 2u);
  EXPECT_EQ(store.hello()->pid, h.pid);
  EXPECT_EQ(store.steps().size(), cfg.steps) << "the old session's steps are gone";
}

TEST(LiveClientTest, DiscoveryPicksTheNewestSocketInTheFolder) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / "fm_ui_discover";
  fs::remove_all(dir);
  fs::create_directories(dir);
  EXPECT_EQ(NewestSocket(dir.string()), std::nullopt);
  std::ofstream(dir / "100.sock") << "";
  std::ofstream(dir / "200.sock") << "";
  std::ofstream(dir / "300.txt") << "";
  const auto now = fs::file_time_type::clock::now();
  fs::last_write_time(dir / "100.sock", now);
  fs::last_write_time(dir / "200.sock", now - std::chrono::hours(1));
  fs::last_write_time(dir / "300.txt", now + std::chrono::hours(1));
  EXPECT_EQ(NewestSocket(dir.string()), (dir / "100.sock").string());
  EXPECT_EQ(NewestSocket((dir / "missing").string()), std::nullopt);
  EXPECT_EQ(ParseAddress("unix:" + dir.string() + "/")->kind, Address::Kind::kUnixDir);
  // A folder without runtimes: the client keeps retrying and says why.
  fs::remove(dir / "100.sock");
  fs::remove(dir / "200.sock");
  LiveClient client(*ParseAddress("unix:" + dir.string() + "/"));
  Store store;
  EXPECT_EQ(client.Poll(&store, 0), 0u);
  EXPECT_NE(client.StateText(0).find("no runtime socket"), std::string::npos);
  fs::remove_all(dir);
}

TEST(LiveClientTest, SendWithoutAConnectionIsUnavailable) {
  LiveClient client(*ParseAddress("unix:/nonexistent/fm.sock"));
  Store store;
  EXPECT_EQ(client.Poll(&store, 0), 0u);
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(client.Send(traces::ControlMessage{}).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace fm::ui
