// Randomised stress of the publish protocol (DESIGN.md §5) on a virtual clock: requests join and
// leave, decode writes tail pages, knobs change at run time, the link jitters. A simulated engine
// reads every cell of every live table each step and compares it with the bytes the chunk must
// hold; slots are poisoned whenever they are claimed or freed, so a cell read before its copy
// landed (or after its slot was reused) shows poison. Invariants are checked after every step and
// no slot may leak when everything has finished.

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "scheduler/scheduler.h"
#include "scheduler/sim_link.h"

namespace fm::sched {
namespace {

constexpr int kChunksPerPage = 8;
constexpr int kTokensPerChunk = 2;
constexpr int kEntryBytes = 4;
constexpr int kSlotBytes = kChunksPerPage * kEntryBytes;
constexpr int kRegions = 8;       // concurrent requests at most
constexpr int kRegionPages = 96;  // cold pages per request
constexpr int kSlots = 110;
constexpr int64_t kStepNs = 1'000;
constexpr std::byte kPoison{0xEE};

// The 4 bytes chunk `c` of admission `uid` holds, wherever it lives.
uint32_t Pattern(uint32_t uid, int64_t c) {
  uint64_t z = (uint64_t{uid} << 32) ^ static_cast<uint64_t>(c) ^ 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9ull;
  const uint32_t v = static_cast<uint32_t>(z ^ (z >> 29));
  return v == 0xEEEEEEEEu ? 1u : v;  // never equal to poison
}

struct Live {
  uint32_t uid = 0;
  int region = 0;
  int64_t tokens = 0;
  int64_t end_tokens = 0;
  std::vector<uint8_t> density;  // drifts slowly, so some pages stay selected (hits)
};

class Engine {
 public:
  explicit Engine(uint64_t seed) : rng_(seed) {
    SimLinkConfig link;
    link.h2d_gbps = 0.002 + 0.02 * Uniform();  // ~2-18 µs per slot: copies span several steps
    link.d2h_gbps = 0.01;
    link.batch_latency_ns = 2'300;
    link.per_descriptor_ns = 500;
    link.jitter_fraction = 1.0;
    link.jitter_seed = seed;
    cold_.assign(static_cast<size_t>(kRegions) * kRegionPages * kSlotBytes, std::byte{0});
    hot_.assign(static_cast<size_t>(kSlots) * kSlotBytes, kPoison);
    link_ = *SimLink::Create(link, &clock_, absl::MakeSpan(cold_), absl::MakeSpan(hot_));
    SchedulerConfig c;
    c.geometry.tokens_per_chunk = kTokensPerChunk;
    c.geometry.chunks_per_page = kChunksPerPage;
    c.geometry.csa_layers = 1;
    c.geometry.kv_entry_bytes = kEntryBytes;
    c.slots_total = kSlots;
    c.kmax_max_pages = 16;
    c.max_requests = kRegions;
    c.headroom = 0.25;
    c.params = RandomParams();
    sched_ = *Scheduler::Create(c, link_.get());
    region_free_.assign(kRegions, true);
    region_ticket_.assign(kRegions, CopyTicket{});
  }

  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  int64_t Int(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }

  SchedulerParams RandomParams() {
    SchedulerParams p;
    p.tau_steps = static_cast<int32_t>(Int(2, 12));
    p.publish_delay_steps = static_cast<int32_t>(Int(1, std::min(p.tau_steps, 16 - p.tau_steps)));
    p.policy.kmax_pages = static_cast<int32_t>(Int(0, 1) ? Int(1, 16) : 0);
    p.policy.tail_chunks = Int(0, 20);
    p.policy.sink_chunks = Int(0, 1) ? Int(0, 12) : 0;
    p.policy.threshold = 0.5;
    p.h2d_bytes_per_step = kSlotBytes * Int(1, 3);
    return p;
  }

  // One engine step, in the order of DESIGN.md §4: publish, graph (read + write), boundaries,
  // copy issue.
  void Step() {
    clock_.AdvanceBy(kStepNs);
    sched_->Poll();
    MaybeFinishAndAdmit();
    for (auto& [id, r] : live_) {
      PublishIfDue(id);
    }
    for (auto& [id, r] : live_) {
      ReadEveryLiveCell(id, r);
      DecodeOneToken(id, r);
    }
    for (auto& [id, r] : live_) {
      if (sched_->IsBoundary(RequestId{id}, step_)) Boundary(id, r);
    }
    absl::StatusOr<IssueReport> issued = sched_->IssueCopies(step_);
    ASSERT_TRUE(issued.ok()) << issued.status();
    if (step_ % 997 == 0) {
      ASSERT_TRUE(sched_->SetParams(RandomParams(), std::nullopt).ok());
    }
    if (step_ % 1499 == 0 && !live_.empty()) {
      ASSERT_TRUE(sched_->SetParams(RandomParams(), RequestId{live_.begin()->first}).ok());
    }
    absl::Status inv = sched_->CheckInvariants();
    ASSERT_TRUE(inv.ok()) << "step " << step_ << ": " << inv;
    ++step_;
  }

  void FinishAll() {
    while (!live_.empty()) Finish(live_.begin()->first);
    clock_.AdvanceBy(int64_t{1} << 40);
    sched_->Poll();
    ASSERT_TRUE(sched_->CheckInvariants().ok()) << sched_->CheckInvariants();
  }

  const Scheduler& sched() const { return *sched_; }
  int64_t reads() const { return reads_; }
  int64_t forced_publishes() const { return forced_publishes_; }
  int64_t starved_boundaries() const { return starved_boundaries_; }

 private:
  void PublishIfDue(uint32_t id) {
    const PublishDecision d = sched_->PublishDue(RequestId{id}, step_);
    if (d.action != PublishAction::kPublish) return;
    int64_t stall = 0;
    for (const CopyTicket& t : d.wait_for) stall += *link_->Wait(t);
    const absl::Status s = sched_->OnFlipped(RequestId{id}, d.generation, stall);
    ASSERT_TRUE(s.ok()) << s;
  }

  void ReadEveryLiveCell(uint32_t id, const Live& r) {
    const std::vector<PageSlot> table = *sched_->LiveTable(RequestId{id});
    const int64_t chunks = r.tokens / kTokensPerChunk;
    for (const PageSlot& e : table) {
      for (int o = 0; o < kChunksPerPage; ++o) {
        const int64_t c = e.page.v * kChunksPerPage + o;
        if (c >= chunks) break;  // Level-2 masks chunks not formed yet
        uint32_t got;
        std::memcpy(&got, &hot_[static_cast<size_t>(e.slot.v) * kSlotBytes + o * kEntryBytes], 4);
        ASSERT_EQ(got, Pattern(r.uid, c))
            << "step " << step_ << " request " << id << " chunk " << c << " page " << e.page.v
            << " slot " << e.slot.v << " state "
            << SlotStateName(sched_->pool().info(e.slot).state);
        ++reads_;
      }
    }
  }

  bool InLiveTable(uint32_t id, PageIndex page, SlotId* slot) {
    const std::vector<PageSlot> table = *sched_->LiveTable(RequestId{id});
    for (const PageSlot& e : table) {
      if (e.page == page) {
        *slot = e.slot;
        return true;
      }
    }
    return false;
  }

  // The compressor store writes each new chunk in-graph into the live table's slot of its page.
  void DecodeOneToken(uint32_t id, Live& r) {
    ++r.tokens;
    if (r.tokens % kTokensPerChunk != 0) return;
    const int64_t c = r.tokens / kTokensPerChunk - 1;
    const PageIndex page{c / kChunksPerPage};
    SlotId slot;
    // Decode may outrun the tables only after slips or an overrun. Then the engine behaves like
    // --deterministic: publish the staged generation now, or run a boundary now.
    for (int attempt = 0; attempt < 2 && !sched_->LiveCovers(RequestId{id}, ChunkIndex{c});
         ++attempt) {
      if (!sched_->HasStaged(RequestId{id})) {
        r.tokens -= 1;  // score the context as it was before this token
        Boundary(id, r, /*sync=*/true);
        r.tokens += 1;
      }
      ASSERT_TRUE(sched_->IssueAllNow(RequestId{id}).ok());
      const PublishDecision d = sched_->PublishDue(RequestId{id}, step_ + 1'000'000);
      ASSERT_EQ(d.action, PublishAction::kPublish);
      for (const CopyTicket& t : d.wait_for) ASSERT_TRUE(link_->Wait(t).ok());
      ASSERT_TRUE(sched_->OnFlipped(RequestId{id}, d.generation, 0).ok());
      ++forced_publishes_;
    }
    ASSERT_TRUE(InLiveTable(id, page, &slot)) << "chunk " << c << " page " << page.v;
    const uint32_t v = Pattern(r.uid, c);
    std::memcpy(
        &hot_[static_cast<size_t>(slot.v) * kSlotBytes + (c % kChunksPerPage) * kEntryBytes], &v,
        4);
  }

  void Poison(const std::vector<PageSlot>& slots) {
    for (const PageSlot& e : slots) {
      std::memset(&hot_[static_cast<size_t>(e.slot.v) * kSlotBytes], 0xEE, kSlotBytes);
    }
  }

  std::vector<uint8_t> Drift(Live& r, int64_t chunks) {
    const size_t pages = static_cast<size_t>((chunks + kChunksPerPage - 1) / kChunksPerPage);
    while (r.density.size() < pages)
      r.density.push_back(static_cast<uint8_t>(Int(0, kChunksPerPage)));
    r.density.resize(pages);
    for (int k = 0; k < 3 && !r.density.empty(); ++k) {
      r.density[static_cast<size_t>(Int(0, static_cast<int64_t>(pages) - 1))] =
          static_cast<uint8_t>(Int(0, kChunksPerPage));
    }
    return r.density;
  }

  void Boundary(uint32_t id, Live& r, bool sync = false) {
    const int64_t chunks = r.tokens / kTokensPerChunk;
    const std::vector<uint8_t> density = Drift(r, chunks);
    CyclePlan plan;
    absl::Status s = sched_->PlanCycle(CycleInput{RequestId{id}, step_, chunks, density}, &plan);
    if (absl::IsResourceExhausted(s) && !sync) {
      ++starved_boundaries_;  // no slot even for the spare: retried at the next step
      return;
    }
    ASSERT_TRUE(s.ok()) << s;
    s = sched_->ApplyCycle(plan);
    ASSERT_TRUE(s.ok()) << s;
    Poison(plan.fetches);  // bytes are garbage until the copy lands
    Poison(plan.new_tail);
  }

  void MaybeFinishAndAdmit() {
    std::vector<uint32_t> done;
    for (auto& [id, r] : live_) {
      if (r.tokens >= r.end_tokens) done.push_back(id);
    }
    for (uint32_t id : done) Finish(id);
    for (int k = 0; k < kRegions; ++k) {
      if (region_free_[k] && region_ticket_[k].valid() && link_->IsDone(region_ticket_[k])) {
        region_ticket_[k] = CopyTicket{};
      }
    }
    if (Uniform() > 0.2) return;
    int region = -1;
    for (int k = 0; k < kRegions; ++k) {
      if (region_free_[k] && !region_ticket_[k].valid()) region = k;
    }
    if (region < 0) return;
    Live r;
    r.uid = next_uid_++;
    r.region = region;
    const int64_t prefill_chunks = Int(0, 300);
    r.tokens = prefill_chunks * kTokensPerChunk + Int(0, kTokensPerChunk - 1);
    r.end_tokens = r.tokens + Int(1, 400);
    // Prefill wrote every chunk to the cold pool. Half the requests get a shuffled page list.
    std::vector<ColdPageId> cold;
    for (int p = 0; p < kRegionPages; ++p) cold.push_back(ColdPageId{region * kRegionPages + p});
    if (Int(0, 1)) std::shuffle(cold.begin(), cold.end(), rng_);
    for (int64_t c = 0; c < prefill_chunks; ++c) {
      const uint32_t v = Pattern(r.uid, c);
      const int64_t off = cold[static_cast<size_t>(c / kChunksPerPage)].v * kSlotBytes +
                          (c % kChunksPerPage) * kEntryBytes;
      std::memcpy(&cold_[static_cast<size_t>(off)], &v, 4);
    }
    const std::vector<uint8_t> density = Drift(r, prefill_chunks);
    const uint32_t id = static_cast<uint32_t>(Int(1, 12));  // ids are reused
    if (live_.count(id)) return;
    absl::StatusOr<CyclePlan> plan =
        sched_->Admit(AdmitSpec{RequestId{id}, step_, prefill_chunks, cold, density});
    if (!plan.ok()) {
      ASSERT_TRUE(absl::IsUnavailable(plan.status()) || absl::IsResourceExhausted(plan.status()))
          << plan.status();
      return;
    }
    Poison(plan->fetches);
    Poison(plan->new_tail);
    region_free_[region] = false;
    live_[id] = std::move(r);
    PublishIfDue(id);  // generation 0 before the first decode step
    ASSERT_EQ(*sched_->LiveGeneration(RequestId{id}), 0);
  }

  void Finish(uint32_t id) {
    absl::StatusOr<Scheduler::FinishReport> f = sched_->Finish(RequestId{id});
    ASSERT_TRUE(f.ok()) << f.status();
    const int region = live_[id].region;
    region_free_[region] = true;
    region_ticket_[region] = f->last_d2h;  // the region is reused after its write-backs land
    live_.erase(id);
    // Freed slots hold nothing valid any more.
    for (int32_t s = 0; s < kSlots; ++s) {
      if (sched_->pool().info(SlotId{s}).state == SlotState::kFree) {
        std::memset(&hot_[static_cast<size_t>(s) * kSlotBytes], 0xEE, kSlotBytes);
      }
    }
  }

  std::mt19937_64 rng_;
  VirtualClock clock_;
  std::vector<std::byte> cold_, hot_;
  std::unique_ptr<SimLink> link_;
  std::unique_ptr<Scheduler> sched_;
  std::map<uint32_t, Live> live_;
  std::vector<bool> region_free_;
  std::vector<CopyTicket> region_ticket_;
  uint32_t next_uid_ = 1;
  int64_t step_ = 0;
  int64_t reads_ = 0;
  int64_t forced_publishes_ = 0;
  int64_t starved_boundaries_ = 0;
};

TEST(PublishStressTest, NoCellIsReadBeforeItsCopyLandsAndNoSlotLeaks) {
  int64_t cycles = 0;
  for (uint64_t seed : {1, 2, 3, 4}) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    Engine engine(seed);
    const int64_t target_cycles = 25'000;
    while (engine.sched().stats().cycles_planned + engine.sched().stats().cycle_overruns <
           target_cycles) {
      engine.Step();
      if (testing::Test::HasFatalFailure()) return;
    }
    engine.FinishAll();
    if (testing::Test::HasFatalFailure()) return;
    const SchedulerStats& s = engine.sched().stats();
    EXPECT_EQ(engine.sched().pool().free_count(), kSlots) << "leaked slots";
    EXPECT_EQ(engine.sched().request_count(), 0);
    cycles += s.cycles_planned + s.cycle_overruns;
    std::printf(
        "seed %llu: cycles %lld overruns %lld slips %lld published %lld hits %lld misses %lld "
        "evictions %lld truncated %lld writebacks %lld stall_ns %lld forced %lld starved %lld "
        "reads %lld\n",
        static_cast<unsigned long long>(seed), static_cast<long long>(s.cycles_planned),
        static_cast<long long>(s.cycle_overruns), static_cast<long long>(s.publish_slips),
        static_cast<long long>(s.generations_published), static_cast<long long>(s.page_hits),
        static_cast<long long>(s.page_misses), static_cast<long long>(s.evictions),
        static_cast<long long>(s.pages_truncated), static_cast<long long>(s.writebacks),
        static_cast<long long>(s.publish_stall_ns),
        static_cast<long long>(engine.forced_publishes()),
        static_cast<long long>(engine.starved_boundaries()),
        static_cast<long long>(engine.reads()));
    // The run must exercise the paths it claims to test.
    EXPECT_GT(s.evictions, 0);
    EXPECT_GT(s.writebacks, 0);
    EXPECT_GT(s.publish_stall_ns, 0);
    EXPECT_GT(s.page_hits, 0);
    EXPECT_GT(s.publish_slips, 0);
    EXPECT_GT(s.pages_truncated, 0);
  }
  EXPECT_GE(cycles, 100'000);
}

}  // namespace
}  // namespace fm::sched
