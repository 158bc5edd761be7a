// Live control of the engine (issue 5: "every knob settable at run time and applied at the next
// cycle boundary"; DESIGN.md §5, §7) on the synthetic tiny checkpoint with 16-chunk (64-token)
// pages, τ = 8, Δ = 4 and a virtual link clock:
//  - controls queued between steps change τ, the Level-1 threshold and KMAX at the request's next
//    boundary, not before, each confirmed once it applied;
//  - values the socket cannot judge (τ + Δ beyond a page, an unknown request) are refused back to
//    the sender with the knob and value named; SetCategories applies at once;
//  - a pause stops the steps until resumed;
//  - end to end over a real Unix socket and a trace file at once: Hello and a Snapshot on
//    connect, SetParam tau=32 answered and confirmed by a Param event, pause and resume.

#include "runtime/engine/live_control.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/container/flat_hash_map.h"
#include "common/status_macros.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/trace_session.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/test_util.h"
#include "runtime/lsa/tiny_model_test_util.h"
#include "traces/emit.h"
#include "traces/payloads.h"
#include "traces/snapshot.h"
#include "traces/socket_client.h"
#include "traces/trace_file_reader.h"

namespace fm::rt {
namespace {

using ::testing::HasSubstr;

traces::ControlMessage SetParam(const char* name, double value,
                                uint32_t request = traces::kAllRequests) {
  traces::ControlMessage m;
  m.op = traces::ControlOp::kSetParam;
  m.param = name;
  m.value = value;
  m.request_id = request;
  return m;
}

traces::ControlMessage SetPaused(bool paused) {
  traces::ControlMessage m;
  m.op = traces::ControlOp::kSetPaused;
  m.paused = paused;
  return m;
}

// Whatever an ASSERT skips, an engine thread ends before the objects it uses.
struct StopAndJoin {
  LiveControl& live;
  std::thread& thread;
  ~StopAndJoin() {
    live.Stop();
    if (thread.joinable()) thread.join();
  }
};

class LiveControlTest : public testing::TinyModelIndexerTest<LiveControlTest> {
 public:
  static constexpr const char* kCheckpointTag = "live_control_test";
  static constexpr uint64_t kCheckpointSeed = 17;

 protected:
  std::unique_ptr<Engine> Make(int64_t max_context) {
    EngineConfig c;
    c.mode = SelectionMode::kLsa;
    c.chunks_per_page = 16;  // 64 tokens per page: τ + Δ <= 64
    c.params.tau_steps = 8;
    c.params.publish_delay_steps = 4;
    c.params.policy.kmax_pages = 3;
    c.params.policy.tail_chunks = 4;
    c.max_requests = 2;
    c.max_context_tokens = max_context;
    c.prefill_chunk_tokens = 64;
    c.virtual_step_ns = 20'000;
    auto e = Engine::Create(model_.get(), indexer_.get(), c, &clock_);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? std::move(*e) : nullptr;
  }

  sched::VirtualClock clock_;
};

TEST_F(LiveControlTest, KnobsApplyAtTheNextBoundaryNotBefore) {
  auto e = Make(512);
  ASSERT_TRUE(e);
  auto id = e->AddRequest(Prompt(200, 3), 0, 70, 1);  // 50 chunks: 4 pages, KMAX 3 of them
  ASSERT_TRUE(id.ok()) << id.status();
  traces::ControlQueue queue;
  int snapshots = 0;
  LiveControl live(e.get(), &queue, [&](const traces::Snapshot&) { ++snapshots; });
  EXPECT_EQ(queue.limits().kmax_max_pages, 3u);
  EXPECT_EQ(queue.limits().tau_steps, 8u);

  std::vector<int64_t> boundaries;
  std::vector<int64_t> selected_per_cycle;  // pages the policy picked at each boundary
  constexpr int64_t kChangeAt = 13;         // between two boundaries
  for (int64_t step = 0; e->active_requests() > 0; ++step) {
    if (step == kChangeAt) {
      ASSERT_TRUE(queue.Submit(SetParam("tau", 16)).ok());
      ASSERT_TRUE(queue.Submit(SetParam("threshold", 0.25)).ok());
      ASSERT_TRUE(queue.Submit(SetParam("kmax", 2)).ok());
    }
    live.Poll();
    const int64_t picked_before = e->scheduler()->stats().pages_selected;
    auto rec = e->Step();
    ASSERT_TRUE(rec.ok()) << "step " << step << ": " << rec.status();
    if (rec->boundary) {
      boundaries.push_back(step);
      selected_per_cycle.push_back(e->scheduler()->stats().pages_selected - picked_before);
    }
    const bool applied = !live.applied().empty();
    // The Level-1 pass keeps the old threshold until the boundary applies the new one.
    EXPECT_EQ(e->level1_options()->policy.threshold, applied ? 0.25 : 0.5) << "step " << step;
    EXPECT_EQ(queue.limits().tau_steps, step >= kChangeAt ? 16u : 8u);
  }
  ASSERT_EQ(live.applied().size(), 3u);
  const int64_t applied_step = live.applied()[0].step;
  for (const KnobApplied& k : live.applied()) {
    EXPECT_EQ(k.request, *id);
    EXPECT_EQ(k.step, applied_step) << k.name;  // all three at the same boundary
  }
  EXPECT_EQ(live.applied()[0].name, "tau");
  EXPECT_EQ(live.applied()[0].value, 16);
  EXPECT_EQ(live.applied()[1].name, "threshold");
  EXPECT_EQ(live.applied()[2].name, "kmax");
  EXPECT_GT(applied_step, kChangeAt);
  EXPECT_LE(applied_step, kChangeAt + 8);  // the first boundary after the change

  // KMAX 3 pages before the change's boundary, 2 from it on; cycles of 8 steps up to that
  // boundary (it was scheduled by the old τ), 16 after it.
  ASSERT_GE(boundaries.size(), 4u);
  for (size_t i = 0; i < boundaries.size(); ++i) {
    const bool changed = boundaries[i] >= applied_step;
    EXPECT_EQ(selected_per_cycle[i], changed ? 2 : 3) << "boundary at step " << boundaries[i];
    if (i > 0) {
      EXPECT_EQ(boundaries[i] - boundaries[i - 1], boundaries[i] > applied_step ? 16 : 8)
          << "boundary at step " << boundaries[i];
    }
  }
  EXPECT_NE(std::find(boundaries.begin(), boundaries.end(), applied_step), boundaries.end());
  EXPECT_TRUE(e->scheduler()->CheckInvariants().ok());
  EXPECT_EQ(e->NextParams(std::nullopt).tau_steps, 16);
  EXPECT_EQ(e->NextParams(std::nullopt).policy.kmax_pages, 2);
  EXPECT_GE(snapshots, 1);  // the first Poll posts one
}

TEST_F(LiveControlTest, ValuesOnlyTheRuntimeCanJudgeAreRefusedToTheSender) {
  auto e = Make(512);
  ASSERT_TRUE(e);
  auto id = e->AddRequest(Prompt(100, 4), 0, 20, 1);
  ASSERT_TRUE(id.ok()) << id.status();
  traces::ControlQueue queue;
  LiveControl live(e.get(), &queue, nullptr);

  // Out of range: the queue (the socket server's check, with the limits LiveControl keeps
  // current) refuses at once, naming knob, value and range: τ + Δ (4) within a 64-token page.
  absl::Status s = queue.Submit(SetParam("tau", 7));
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("'tau': value 7"));
  s = queue.Submit(SetParam("tau", 64));
  EXPECT_THAT(std::string(s.message()), HasSubstr("'tau': value 64, expected an integer in [8, 60]"));
  s = queue.Submit(SetParam("kmax", 99));
  EXPECT_THAT(std::string(s.message()), HasSubstr("'kmax': value 99"));

  // Accepted by the queue, refused by the engine: Δ = 8 fits τ = 8 but not the τ = 60 queued
  // before it (60 + 8 > 64), an unknown request, and an op the runtime does not implement. Each
  // reply goes to its sender and control seq.
  auto from = [](traces::ControlMessage m, uint32_t client, uint32_t seq) {
    m.client_id = client;
    m.frame_seq = seq;
    return m;
  };
  ASSERT_TRUE(queue.Submit(from(SetParam("tau", 60), 7, 41)).ok());
  ASSERT_TRUE(queue.Submit(from(SetParam("delta", 8), 7, 42)).ok());
  ASSERT_TRUE(queue.Submit(from(SetParam("threshold", 0.3, 999), 8, 5)).ok());
  traces::ControlMessage categories;
  categories.op = traces::ControlOp::kSetCategories;
  // Steps and Params only (bits 3 and 10).
  categories.categories = (uint64_t{1} << static_cast<int>(traces::EventKind::kStep)) |
                          (uint64_t{1} << static_cast<int>(traces::EventKind::kParam));
  ASSERT_TRUE(queue.Submit(from(categories, 7, 43)).ok());
  live.Poll();
  EXPECT_EQ(traces::EventCategories(), categories.categories);
  EXPECT_TRUE(traces::CategoryEnabled(static_cast<uint8_t>(traces::EventKind::kStep)));
  EXPECT_FALSE(traces::CategoryEnabled(static_cast<uint8_t>(traces::EventKind::kCounter)));
  traces::SetEventCategories(~uint64_t{0});  // process-wide: restore for the other tests
  std::vector<std::pair<uint32_t, traces::ControlReply>> replies;
  ASSERT_EQ(queue.TakeReplies(&replies), 2u);
  EXPECT_EQ(replies[0].first, 7u);
  EXPECT_EQ(replies[0].second.control_seq, 42u);
  EXPECT_EQ(replies[0].second.code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(replies[0].second.message, HasSubstr("knob 'delta' = 8 refused"));
  EXPECT_THAT(replies[0].second.message, HasSubstr("tokens per page 64"));
  EXPECT_EQ(replies[1].first, 8u);
  EXPECT_EQ(replies[1].second.code, absl::StatusCode::kNotFound);
  EXPECT_THAT(replies[1].second.message, HasSubstr("request 999 is not active"));

  // Only τ changed, and the limits followed it.
  EXPECT_EQ(e->NextParams(std::nullopt).tau_steps, 60);
  EXPECT_EQ(e->NextParams(std::nullopt).publish_delay_steps, 4);
  EXPECT_EQ(e->NextParams(*id).policy.threshold, 0.5);
  EXPECT_EQ(queue.limits().tau_steps, 60u);
  s = queue.Submit(SetParam("delta", 5));
  EXPECT_THAT(std::string(s.message()), HasSubstr("'delta': value 5, expected an integer in [1, 4]"));
  ASSERT_TRUE(queue.Submit(SetParam("tau", 8)).ok());
  while (e->active_requests() > 0) {
    live.Poll();
    ASSERT_TRUE(e->Step().ok());
  }
  // τ = 60 was superseded by τ = 8 before any boundary: only the last value is confirmed.
  ASSERT_EQ(live.applied().size(), 1u);
  EXPECT_EQ(live.applied()[0].value, 8);

  // A request-scoped knob changes that request only.
  auto a = e->AddRequest(Prompt(100, 5), 0, 30, 2);
  auto b = e->AddRequest(Prompt(120, 6), 0, 30, 3);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(queue.Submit(SetParam("tau", 16, *b)).ok());
  while (e->active_requests() > 0) {
    live.Poll();
    ASSERT_TRUE(e->Step().ok());
  }
  ASSERT_EQ(live.applied().size(), 2u);
  EXPECT_EQ(live.applied()[1].request, *b);
  EXPECT_EQ(live.applied()[1].value, 16);
  EXPECT_EQ(e->NextParams(std::nullopt).tau_steps, 8);
  EXPECT_EQ(e->NextParams(*b).tau_steps, 16);
}

TEST_F(LiveControlTest, PauseStopsStepsUntilResumed) {
  auto e = Make(1024);
  ASSERT_TRUE(e);
  ASSERT_TRUE(e->AddRequest(Prompt(80, 7), 0, 60, 1).ok());
  traces::ControlQueue queue;
  LiveControl live(e.get(), &queue, nullptr, LiveControlOptions{.pause_poll_ms = 2});
  std::atomic<int64_t> steps{0};
  std::atomic<int64_t> paused_waits{0};
  std::atomic<bool> failed{false};
  std::thread engine([&] {
    while (e->active_requests() > 0 &&
           live.AwaitRunnable([&] { paused_waits.fetch_add(1, std::memory_order_acq_rel); })) {
      if (!e->Step().ok()) {
        failed = true;
        return;
      }
      steps.fetch_add(1, std::memory_order_acq_rel);
    }
  });
  StopAndJoin joiner{live, engine};
  auto wait_for = [](const std::function<bool()>& done) {
    for (int i = 0; i < 3000 && !done(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  };
  ASSERT_TRUE(wait_for([&] { return steps.load() >= 3; }));
  ASSERT_TRUE(queue.Submit(SetPaused(true)).ok());
  ASSERT_TRUE(wait_for([&] { return paused_waits.load() > 0; }));
  const int64_t at_pause = steps.load();
  const int64_t waits = paused_waits.load();
  // Twenty more paused polls (>= 40 ms) and not one step.
  EXPECT_TRUE(wait_for([&] { return paused_waits.load() >= waits + 20; }));
  EXPECT_EQ(steps.load(), at_pause);
  ASSERT_TRUE(queue.Submit(SetPaused(false)).ok());
  engine.join();
  EXPECT_FALSE(failed.load());
  EXPECT_EQ(steps.load(), 60);
  EXPECT_EQ(e->active_requests(), 0);
}

// What the profiler client saw.
struct ClientView {
  bool hello = false;
  int snapshots = 0;
  std::optional<traces::Snapshot> first_snapshot;
  uint64_t fetches_in_latency = 0;  // copies counted by the newest Latency section
  absl::flat_hash_map<uint32_t, std::string> strings;
  std::vector<traces::ControlReply> replies;
  std::vector<traces::Event> params;  // Param events
  std::vector<traces::Event> marks;
  int64_t last_step = -1;
  bool bye = false;

  void Pump(traces::WireClient& c) {
    absl::StatusOr<size_t> n = c.Receive(10);
    if (!n.ok()) bye = true;
    while (true) {
      auto f = c.decoder().Next();
      ASSERT_TRUE(f.ok()) << f.status();
      if (!f->has_value()) break;
      const traces::FrameView& fr = **f;
      switch (static_cast<traces::FrameKind>(fr.kind)) {
        case traces::FrameKind::kHello:
          hello = true;
          break;
        case traces::FrameKind::kStringDef: {
          absl::StatusOr<std::vector<traces::StringDefEntry>> defs =
              traces::DecodeStringDefs(fr.payload);
          ASSERT_TRUE(defs.ok()) << defs.status();
          for (const traces::StringDefEntry& s : *defs) strings[s.id] = s.text;
          break;
        }
        case traces::FrameKind::kSnapshot: {
          auto s = traces::DecodeSnapshot(fr.payload);
          ASSERT_TRUE(s.ok()) << s.status();
          if (!first_snapshot) first_snapshot = *s;
          if (s->latency) {
            fetches_in_latency = 0;
            for (uint64_t count : s->latency->fetch_ns) fetches_in_latency += count;
          }
          ++snapshots;
          break;
        }
        case traces::FrameKind::kControlReply: {
          absl::StatusOr<traces::ControlReply> r = traces::DecodeControlReply(fr.payload);
          ASSERT_TRUE(r.ok()) << r.status();
          replies.push_back(*r);
          break;
        }
        case traces::FrameKind::kEvents: {
          std::vector<traces::Event> events;
          ASSERT_TRUE(traces::DecodeEvents(fr.payload, &events).ok());
          for (const traces::Event& e : events) {
            if (e.kind == static_cast<uint8_t>(traces::EventKind::kParam)) params.push_back(e);
            if (e.kind == static_cast<uint8_t>(traces::EventKind::kMark)) marks.push_back(e);
            if (e.kind == static_cast<uint8_t>(traces::EventKind::kStep)) {
              last_step = static_cast<int64_t>(e.a);
            }
          }
          break;
        }
        case traces::FrameKind::kBye:
          bye = true;
          break;
        default:
          break;
      }
    }
  }
  // The Mark events named `name`, in order.
  std::vector<traces::Event> Marks(const std::string& name) const {
    std::vector<traces::Event> out;
    for (const traces::Event& m : marks) {
      auto it = strings.find(m.name);
      if (it != strings.end() && it->second == name) out.push_back(m);
    }
    return out;
  }
};

TEST_F(LiveControlTest, EndToEndOverAUnixSocketBesideATraceFile) {
  auto e = Make(4096);
  ASSERT_TRUE(e);
  auto id = e->AddRequest(Prompt(100, 9), 0, 3000, 1);  // far longer than the test: Stop() ends it
  ASSERT_TRUE(id.ok()) << id.status();

  testing::ScratchDir dir("live");
  const std::string socket_dir = (dir.path() / "flashmem").string();
  auto endpoint = ParseTelemetrySpec("unix", socket_dir, 4242);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(endpoint->unix_path, socket_dir + "/4242.sock");
  TraceSessionOptions so;
  so.trace_path = (dir.path() / "run.fmtrace").string();
  so.telemetry = *endpoint;
  so.hello = e->TraceHello();
  auto session = TraceSession::Start(so);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ((*session)->telemetry_address(), "unix:" + socket_dir + "/4242.sock");
  struct stat st;
  ASSERT_EQ(::stat(socket_dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(endpoint->unix_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  traces::ControlQueue* queue = (*session)->controls();
  ASSERT_NE(queue, nullptr);
  // Start paused, so nothing decodes before the client is connected.
  ASSERT_TRUE(queue->Submit(SetPaused(true)).ok());
  LiveControl live(e.get(), queue,
                   [&](const traces::Snapshot& s) { (*session)->PostSnapshot(s); },
                   LiveControlOptions{.snapshot_period_ms = 20, .pause_poll_ms = 2});
  std::atomic<bool> failed{false};
  std::thread engine([&] {
    while (e->active_requests() > 0 && live.AwaitRunnable()) {
      if (!e->Step().ok()) {
        failed = true;
        return;
      }
      // Paced (a tiny step takes ~0.1 ms), so the client's round trips happen mid-run.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  StopAndJoin joiner{live, engine};

  auto client = traces::WireClient::ConnectUnix(endpoint->unix_path);
  ASSERT_TRUE(client.ok()) << client.status();
  ClientView v;
  auto pump_until = [&](const std::function<bool()>& done) {
    for (int i = 0; i < 2000 && !done() && !v.bye; ++i) v.Pump(**client);  // <= 20 s
    return done();
  };
  ASSERT_TRUE(pump_until([&] { return v.hello && v.snapshots > 0; }));
  ASSERT_TRUE(v.first_snapshot->params.has_value());
  EXPECT_EQ(v.first_snapshot->params->tau_steps, 8u);
  EXPECT_EQ(v.first_snapshot->params->kmax_pages, 3u);
  ASSERT_TRUE(v.first_snapshot->requests.has_value());
  ASSERT_EQ(v.first_snapshot->requests->size(), 1u);
  EXPECT_EQ((*v.first_snapshot->requests)[0].id, *id);
  ASSERT_EQ(v.first_snapshot->residency.size(), 1u);
  // 100 tokens = 25 chunks: page 0 and the tail page 1, both selected (KMAX 3) and resident.
  const std::vector<uint8_t>& states = v.first_snapshot->residency[0].page_states;
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ((*v.first_snapshot->requests)[0].pages, 2u);
  EXPECT_EQ(states[0], static_cast<uint8_t>(traces::PageState::kHot));
  EXPECT_NE(states[1], static_cast<uint8_t>(traces::PageState::kCold));

  auto send = [&](const traces::ControlMessage& m) {
    uint32_t seq = 0;
    EXPECT_TRUE((*client)->Send(traces::FrameKind::kControl, traces::EncodeControl(m), &seq).ok());
    return seq;
  };
  const uint32_t tau_seq = send(SetParam("tau", 32));
  ASSERT_TRUE(pump_until([&] { return !v.replies.empty(); }));
  EXPECT_EQ(v.replies[0].control_seq, tau_seq);
  EXPECT_EQ(v.replies[0].code, absl::StatusCode::kOk) << v.replies[0].message;
  EXPECT_TRUE(v.params.empty());  // paused: no boundary yet, so not applied

  // Over the τ + Δ <= 64 bound: refused by the socket at once.
  const uint32_t over_seq = send(SetParam("tau", 64));
  ASSERT_TRUE(pump_until([&] { return v.replies.size() >= 2; }));
  EXPECT_EQ(v.replies[1].control_seq, over_seq);
  EXPECT_EQ(v.replies[1].code, absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(v.replies[1].message, HasSubstr("'tau': value 64"));
  // A request that does not exist: accepted by the socket, then refused by the runtime, both
  // replies answering the same control seq.
  const uint32_t bad_seq = send(SetParam("threshold", 0.3, 999));
  ASSERT_TRUE(pump_until([&] { return v.replies.size() >= 4; }));
  EXPECT_EQ(v.replies[2].control_seq, bad_seq);
  EXPECT_EQ(v.replies[2].code, absl::StatusCode::kOk);
  EXPECT_EQ(v.replies[3].control_seq, bad_seq);
  EXPECT_EQ(v.replies[3].code, absl::StatusCode::kNotFound);
  EXPECT_THAT(v.replies[3].message, HasSubstr("refused by the runtime: knob 'threshold' = 0.3"));

  send(SetPaused(false));
  ASSERT_TRUE(pump_until([&] { return !v.params.empty(); }));
  EXPECT_EQ(v.strings[v.params[0].name], "tau");
  EXPECT_EQ(std::bit_cast<double>(v.params[0].a), 32.0);
  EXPECT_EQ(v.params[0].b, *id);

  // The client may or may not have seen the Mark of the pause the test started with (events are
  // not replayed on connect): count from here.
  const size_t pauses = v.Marks("decode paused").size();
  send(SetPaused(true));
  ASSERT_TRUE(pump_until([&] { return v.Marks("decode paused").size() > pauses; }));
  // Steps stop: a few snapshots later (20 ms apart) the last Step event is the one before the
  // pause (a Mark's a is the count of steps done).
  const int64_t paused_at = v.last_step;
  EXPECT_EQ(static_cast<int64_t>(v.Marks("decode paused").back().a), paused_at + 1);
  const int seen = v.snapshots;
  ASSERT_TRUE(pump_until([&] { return v.snapshots >= seen + 5; }));
  EXPECT_EQ(v.last_step, paused_at);

  const size_t resumes = v.Marks("decode resumed").size();
  send(SetPaused(false));
  ASSERT_TRUE(pump_until([&] { return v.last_step > paused_at; }));
  EXPECT_GT(v.Marks("decode resumed").size(), resumes);
  EXPECT_GT(v.fetches_in_latency, 0u);  // admission's copies at least
  live.Stop();
  engine.join();
  EXPECT_FALSE(failed.load());
  ASSERT_TRUE((*session)->Stop().ok());
  pump_until([&] { return v.bye; });
  EXPECT_TRUE(v.bye);

  // The trace file got the same stream: the Param confirmation and the snapshots.
  int file_params = 0, file_snapshots = 0;
  std::vector<traces::Event> events;
  absl::Status read = traces::ForEachFrame(so.trace_path, [&](const traces::FrameView& f) {
    if (f.kind == static_cast<uint16_t>(traces::FrameKind::kSnapshot)) ++file_snapshots;
    if (f.kind != static_cast<uint16_t>(traces::FrameKind::kEvents)) return absl::OkStatus();
    events.clear();
    FM_RETURN_IF_ERROR(traces::DecodeEvents(f.payload, &events));
    for (const traces::Event& ev : events) {
      file_params += ev.kind == static_cast<uint8_t>(traces::EventKind::kParam);
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(read.ok()) << read;
  EXPECT_EQ(file_params, 1);
  EXPECT_GE(file_snapshots, 2);
}

TEST(TelemetrySpecTest, ParsesTheRunFlagForms) {
  auto tcp = ParseTelemetrySpec("tcp:0", "/d", 1);
  ASSERT_TRUE(tcp.ok());
  EXPECT_EQ(tcp->tcp_port, 0);
  EXPECT_TRUE(tcp->unix_path.empty());
  auto path = ParseTelemetrySpec("unix:/x/y.sock", "/d", 1);
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path->unix_path, "/x/y.sock");
  EXPECT_TRUE(path->private_dir.empty());
  for (const char* bad : {"", "tcp", "tcp:", "tcp:70000", "tcp:-1", "unix:", "udp:3", "uni"}) {
    auto r = ParseTelemetrySpec(bad, "/d", 1);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("--telemetry=")) << bad;
  }
}

}  // namespace
}  // namespace fm::rt
