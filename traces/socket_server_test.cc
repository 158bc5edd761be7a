// The live socket server: many clients, Control round trips, disconnects mid-frame, slow clients
// and reconnects. Waits are bounded loops on socket readiness (poll with a timeout), never sleeps.

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "traces/collector.h"
#include "traces/control.h"
#include "traces/emit.h"
#include "traces/socket_client.h"
#include "traces/socket_server.h"
#include "traces/test_frames.h"

namespace fm::traces {
namespace {

using ::testing::HasSubstr;

// What one client has seen so far.
struct View {
  std::vector<uint16_t> kinds;
  absl::flat_hash_map<uint32_t, std::string> strings;
  uint64_t events = 0;
  uint64_t marks = 0;
  std::vector<ControlReply> replies;
  std::string bye;
  uint64_t snapshots = 0;
  uint32_t last_snapshot_id = 0;
  bool closed = false;
  absl::Status error;
};

constexpr int kPollMs = 20;
constexpr int kMaxPolls = 1500;  // 30 s upper bound per wait; normally a few ms

void Pump(WireClient& c, View& v, uint32_t mark_name) {
  absl::StatusOr<size_t> n = c.Receive(kPollMs);
  if (!n.ok()) {
    v.closed = true;
  }
  while (true) {
    auto f = c.decoder().Next();
    if (!f.ok()) {
      v.error = f.status();
      return;
    }
    if (!f->has_value()) break;
    const FrameView& fr = **f;
    v.kinds.push_back(fr.kind);
    switch (static_cast<FrameKind>(fr.kind)) {
      case FrameKind::kStringDef: {
        auto defs = DecodeStringDefs(fr.payload);
        EXPECT_TRUE(defs.ok());
        if (defs.ok()) {
          for (auto& s : *defs) v.strings[s.id] = s.text;
        }
        break;
      }
      case FrameKind::kEvents: {
        std::vector<Event> ev;
        EXPECT_TRUE(DecodeEvents(fr.payload, &ev).ok());
        v.events += ev.size();
        for (const Event& e : ev) v.marks += e.kind == 11 && e.name == mark_name;
        break;
      }
      case FrameKind::kControlReply:
        v.replies.push_back(*DecodeControlReply(fr.payload));
        break;
      case FrameKind::kBye:
        v.bye = *DecodeBye(fr.payload);
        break;
      case FrameKind::kSnapshot:
        ++v.snapshots;
        v.last_snapshot_id = DecodeSnapshot(fr.payload)->snapshot_id;
        break;
      default:
        break;
    }
  }
}

template <typename Pred>
bool PumpUntil(WireClient& c, View& v, uint32_t mark_name, Pred done) {
  for (int i = 0; i < kMaxPolls && !done(); ++i) {
    Pump(c, v, mark_name);
    if (v.closed || !v.error.ok()) return done();
  }
  return done();
}

class SocketServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) / ("fm_sock_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(EnsurePrivateDir(dir_.string()).ok());
    path_ = (dir_ / "rt.sock").string();
    controls_.SetLimits({1024, 64});
  }
  void TearDown() override {
    if (collector_) collector_->Stop();
    std::filesystem::remove_all(dir_);
  }
  void StartServer(size_t queue_bytes = 16u << 20, int tcp_port = -1) {
    SocketServerOptions o;
    o.unix_path = path_;
    o.tcp_port = tcp_port;
    o.client_queue_bytes = queue_bytes;
    o.controls = &controls_;
    auto s = SocketServer::Listen(o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *s;
    collector_ = std::make_unique<Collector>(CollectorOptions{testing::SampleHello()});
    collector_->AddSink(server_);
    ASSERT_TRUE(collector_->Start().ok());
  }
  std::unique_ptr<WireClient> Connect(View& v) {
    auto c = WireClient::ConnectUnix(path_);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    // Registered once the preamble (Hello first) arrives.
    EXPECT_TRUE(PumpUntil(**c, v, 0, [&] { return !v.kinds.empty(); }));
    EXPECT_EQ(v.kinds.empty() ? 0 : v.kinds[0], static_cast<uint16_t>(FrameKind::kHello));
    return std::move(*c);
  }

  std::filesystem::path dir_;
  std::string path_;
  ControlQueue controls_;
  std::shared_ptr<SocketServer> server_;
  std::unique_ptr<Collector> collector_;
};

TEST_F(SocketServerTest, SocketAndFolderArePrivate) {
  StartServer();
  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(SocketServerTest, TwoClientsAtOnceEachGetTheFullStream) {
  StartServer();
  View a;
  View b;
  auto ca = Connect(a);
  auto cb = Connect(b);
  ASSERT_TRUE(ca && cb);
  const uint32_t mark = Intern("sock.two_clients");
  for (int i = 0; i < 1000; ++i) EmitMark(mark, static_cast<uint64_t>(i));
  collector_->Flush();
  EXPECT_TRUE(PumpUntil(*ca, a, mark, [&] { return a.marks == 1000; }));
  EXPECT_TRUE(PumpUntil(*cb, b, mark, [&] { return b.marks == 1000; }));
  EXPECT_EQ(a.strings[mark], "sock.two_clients");
  EXPECT_EQ(ca->decoder().seq_gap_frames(), 0u);
  EXPECT_EQ(cb->decoder().seq_gap_frames(), 0u);
  EXPECT_EQ(server_->client_count(), 2u);
}

TEST_F(SocketServerTest, ControlIsValidatedQueuedForTheRuntimeAndAnswered) {
  StartServer();
  View v;
  auto c = Connect(v);
  ASSERT_TRUE(c);
  ControlMessage ok;
  ok.op = ControlOp::kSetParam;
  ok.param = kParamTau;
  ok.value = 32;
  uint32_t ok_seq = 0;
  ASSERT_TRUE(c->Send(FrameKind::kControl, EncodeControl(ok), &ok_seq).ok());
  ControlMessage bad = ok;
  bad.value = 300;
  uint32_t bad_seq = 0;
  ASSERT_TRUE(c->Send(FrameKind::kControl, EncodeControl(bad), &bad_seq).ok());
  ASSERT_TRUE(PumpUntil(*c, v, 0, [&] { return v.replies.size() == 2; }));
  EXPECT_EQ(v.replies[0].control_seq, ok_seq);
  EXPECT_EQ(v.replies[0].code, absl::StatusCode::kOk);
  EXPECT_EQ(v.replies[1].control_seq, bad_seq);
  EXPECT_EQ(v.replies[1].code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(v.replies[1].message, HasSubstr("300"));
  std::vector<ControlMessage> got;
  controls_.Poll(&got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].param, "tau");
  EXPECT_EQ(got[0].value, 32);
  EXPECT_EQ(got[0].frame_seq, ok_seq);
}

TEST_F(SocketServerTest, ClientVanishingMidFrameLeavesTheServerServingOthers) {
  StartServer();
  View gone;
  auto c1 = Connect(gone);
  ASSERT_TRUE(c1);
  ControlMessage m;
  m.op = ControlOp::kRequestSnapshot;
  EncodedFrame f = EncodeFrame(FrameKind::kControl, EncodeControl(m));
  ASSERT_TRUE(c1->SendRaw(std::span<const uint8_t>(f.bytes.data(), 13)).ok());  // half a header
  c1->Close();
  View v;
  auto c2 = Connect(v);
  ASSERT_TRUE(c2);
  const uint32_t mark = Intern("sock.after_vanish");
  EmitMark(mark);
  collector_->Flush();
  EXPECT_TRUE(PumpUntil(*c2, v, mark, [&] { return v.marks == 1; }));
  // The vanished client is reaped on the drain thread's next poll.
  for (int i = 0; i < kMaxPolls && server_->client_count() != 1; ++i) Pump(*c2, v, mark);
  EXPECT_EQ(server_->client_count(), 1u);
  std::vector<ControlMessage> got;
  EXPECT_EQ(controls_.Poll(&got), 0u) << "a partial frame is never acted on";
}

TEST_F(SocketServerTest, GarbageFromAClientGetsAByeAndAHangup) {
  StartServer();
  View v;
  auto c = Connect(v);
  ASSERT_TRUE(c);
  std::vector<uint8_t> junk(64, 0xAB);
  ASSERT_TRUE(c->SendRaw(junk).ok());
  EXPECT_TRUE(PumpUntil(*c, v, 0, [&] { return v.closed; }));
  EXPECT_THAT(v.bye, HasSubstr("magic"));
}

TEST_F(SocketServerTest, SlowClientLosesOnlyEventsFramesWhileTheFastOneMissesNothing) {
  StartServer(/*queue_bytes=*/256u << 10);
  View slow_view;
  View fast_view;
  auto slow = Connect(slow_view);
  auto fast = Connect(fast_view);
  ASSERT_TRUE(slow && fast);
  slow->SetReceiveBufferBytes(4096);
  const uint32_t mark = Intern("sock.flood");
  uint64_t emitted = 0;
  // The producer runs ahead freely; pacing on the fast reader only keeps *its* queue small.
  for (int batch = 0; batch < 100; ++batch) {
    for (int i = 0; i < 2048; ++i) emitted += TryEmit(Event{11, 0, 0, mark, 0, emitted, 0});
    collector_->Flush();
    ASSERT_TRUE(PumpUntil(*fast, fast_view, mark, [&] { return fast_view.marks == emitted; }))
        << "batch " << batch;
  }
  EXPECT_EQ(fast->decoder().seq_gap_frames(), 0u);
  EXPECT_GT(server_->stats().frames_dropped, 0u);
  // The slow client now drains what it was sent: the newest data, a visible gap, no damage. A
  // Snapshot marks the end because snapshots, unlike Events, are never dropped for a slow client.
  Snapshot end = testing::SampleSnapshot(8);
  end.snapshot_id = 999;
  collector_->PostSnapshot(end);
  collector_->Flush();
  EXPECT_TRUE(PumpUntil(*slow, slow_view, mark, [&] { return slow_view.last_snapshot_id == 999; }));
  EXPECT_TRUE(slow_view.error.ok()) << slow_view.error;
  EXPECT_GT(slow->decoder().seq_gap_frames(), 0u);
  EXPECT_EQ(server_->client_count(), 2u);
}

TEST_F(SocketServerTest, ClientThatFloodsControlsButNeverReadsIsDisconnected) {
  StartServer(/*queue_bytes=*/64u << 10);
  View observer_view;
  auto observer = Connect(observer_view);
  View flood_view;
  auto flood = Connect(flood_view);
  ASSERT_TRUE(observer && flood);
  flood->SetReceiveBufferBytes(4096);
  ControlMessage m;
  m.op = ControlOp::kRequestSnapshot;
  const std::vector<uint8_t> payload = EncodeControl(m);
  int sent = 0;
  for (; sent < 200000; ++sent) {
    if (!flood->Send(FrameKind::kControl, payload).ok()) break;  // EPIPE once the server hangs up
  }
  EXPECT_LT(sent, 200000) << "the server must hang up on a client that never reads";
  // The observer's poll timeouts pace this bounded wait; it keeps being served throughout.
  EXPECT_TRUE(PumpUntil(*observer, observer_view, 0, [&] { return server_->client_count() == 1; }));
  EXPECT_TRUE(observer_view.error.ok());
}

TEST_F(SocketServerTest, ReconnectingClientGetsHelloAllStringsAndTheLatestSnapshot) {
  StartServer();
  const uint32_t early = Intern("sock.early_string");
  EmitMark(early);
  collector_->PostSnapshot(testing::SampleSnapshot(32));
  collector_->Flush();
  {
    View v;
    auto c = Connect(v);
    ASSERT_TRUE(c);
  }
  View v;
  auto c = Connect(v);
  ASSERT_TRUE(c);
  EXPECT_TRUE(PumpUntil(*c, v, 0, [&] {
    return v.strings.contains(early) && v.snapshots >= 1;
  }));
  EXPECT_EQ(v.strings[early], "sock.early_string");
}

TEST_F(SocketServerTest, TcpListensOnLoopbackAndAFifthClientIsTurnedAway) {
  StartServer(16u << 20, /*tcp_port=*/0);
  ASSERT_GT(server_->tcp_port(), 0);
  std::vector<std::unique_ptr<WireClient>> clients;
  std::vector<View> views(5);
  for (int i = 0; i < 4; ++i) {
    auto c = WireClient::ConnectTcp(server_->tcp_port());
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(PumpUntil(**c, views[i], 0, [&] { return !views[i].kinds.empty(); }));
    clients.push_back(std::move(*c));
  }
  auto fifth = WireClient::ConnectTcp(server_->tcp_port());
  ASSERT_TRUE(fifth.ok());
  EXPECT_TRUE(PumpUntil(**fifth, views[4], 0, [&] { return views[4].closed; }));
  EXPECT_THAT(views[4].bye, HasSubstr("too many subscribers"));
  EXPECT_EQ(server_->clients_rejected(), 1u);
}

TEST_F(SocketServerTest, ShutdownSaysByeToConnectedClients) {
  StartServer();
  View v;
  auto c = Connect(v);
  ASSERT_TRUE(c);
  collector_->Stop();
  EXPECT_TRUE(PumpUntil(*c, v, 0, [&] { return v.closed; }));
  EXPECT_EQ(v.bye, "runtime shutting down");
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST(SocketPathTest, DefaultDirectoryFollowsXdgThenTmpdir) {
  EXPECT_EQ(DefaultSocketDir("/run/user/1000", "/var/tmp", 1000), "/run/user/1000/flashmem");
  EXPECT_EQ(DefaultSocketDir(nullptr, "/var/tmp", 1000), "/var/tmp/flashmem-1000");
  EXPECT_EQ(DefaultSocketDir("", nullptr, 7), "/tmp/flashmem-7");
}

}  // namespace
}  // namespace fm::traces
