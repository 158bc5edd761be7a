#include "runtime/engine/engine.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "runtime/engine/engine_request.h"
#include "scheduler/selection_policy.h"
#include "traces/emit.h"
#include "traces/standard_names.h"

namespace fm::rt {

namespace {

uint64_t Mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

}  // namespace

Engine::Engine(const Model* model, MemoryIndexer* indexer, const EngineConfig& config,
               sched::Clock* clock)
    : model_(model), indexer_(indexer), config_(config), clock_(clock) {}

Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const Model* model, MemoryIndexer* indexer,
                                                       const EngineConfig& config,
                                                       sched::Clock* clock) {
  if (model == nullptr || clock == nullptr) {
    return absl::InvalidArgumentError("Engine::Create: model and clock must be non-null");
  }
  if (config.mode == SelectionMode::kLsa && indexer == nullptr) {
    return absl::InvalidArgumentError("Engine::Create: mode lsa needs a memory indexer");
  }
  if (config.record_scores && config.mode != SelectionMode::kLsa) {
    return absl::InvalidArgumentError(absl::StrCat(
        "EngineConfig.record_scores: mode ", std::string(SelectionModeName(config.mode)),
        " has no Level-1 probabilities to record, expected mode lsa"));
  }
  if (config.max_requests < 1 || config.max_requests > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("EngineConfig.max_requests: ",
                                                   config.max_requests, ", expected [1, 1024]"));
  }
  if (config.max_context_tokens < 8 || config.max_context_tokens > (int64_t{1} << 24)) {
    return absl::InvalidArgumentError(absl::StrCat("EngineConfig.max_context_tokens: ",
                                                   config.max_context_tokens,
                                                   ", expected [8, 2^24]"));
  }
  if (config.virtual_step_ns < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("EngineConfig.virtual_step_ns: ", config.virtual_step_ns, ", expected >= 0"));
  }
  auto engine = std::unique_ptr<Engine>(new Engine(model, indexer, config, clock));
  FM_RETURN_IF_ERROR(engine->Init());
  return engine;
}

absl::Status Engine::Init() {
  const ModelConfig& mc = model_->config();
  for (int64_t l = 0; l < mc.num_hidden_layers; ++l) {
    if (mc.is_csa(l)) csa_layers_.push_back(l);
  }
  if (csa_layers_.empty()) {
    return absl::InvalidArgumentError("Engine: the model has no CSA layer (compress_ratios)");
  }
  geometry_.tokens_per_chunk = 4;
  geometry_.chunks_per_page = config_.chunks_per_page;
  geometry_.csa_layers = static_cast<int32_t>(csa_layers_.size());
  // The slots hold the model's real entries: the fp8 codec's size (584 B for Flash dims) or fp32.
  const int64_t entry_bytes = model_->CompressedEntryBytes();
  if (entry_bytes < 1 || entry_bytes > (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(absl::StrCat("Engine: compressed KV entry of ", entry_bytes,
                                                   " bytes, expected [1, 2^20]"));
  }
  geometry_.kv_entry_bytes = static_cast<int32_t>(entry_bytes);
  FM_RETURN_IF_ERROR(geometry_.Validate());
  const int64_t pages = sched::PagesForTokens(config_.max_context_tokens, geometry_);
  cold_pages_per_row_ = pages + 2;  // + the tail page's partial content and the spare
  if (config_.record_scores) config_.measure_coverage = true;  // Labels are the shadow's picks
  // Full mode has every chunk resident: nothing to measure.
  if (config_.mode == SelectionMode::kFull) config_.measure_coverage = false;
  row_used_.assign(static_cast<size_t>(config_.max_requests), 0);
  if (config_.mode == SelectionMode::kFull) return absl::OkStatus();

  // KMAX never needs to exceed a request's pages: the table width is capped there, so "KMAX >=
  // all pages" is expressible and the reserve is not sized for pages that cannot exist.
  const int32_t kmax_cap = static_cast<int32_t>(
      std::min<int64_t>(config_.kmax_max_pages, std::max<int64_t>(pages, 1)));
  int32_t& kmax = config_.params.policy.kmax_pages;
  if (kmax > kmax_cap) kmax = kmax_cap;
  // KMAX sizes the shared reserve (the point of LSA: hot pool << full KV). The rule's KMAX (kmax 0)
  // grows with the context, so its largest value is the one at max_context_tokens.
  const int32_t kmax_reserve =
      kmax > 0 ? kmax : std::min(sched::DefaultKmaxPages(pages), kmax_cap);
  sched::SchedulerConfig sc;
  sc.geometry = geometry_;
  sc.kmax_max_pages = kmax_reserve;
  sc.max_requests = config_.max_requests;
  sc.headroom = config_.headroom;
  sc.params = config_.params;
  const int64_t per_request =
      static_cast<int64_t>((kmax_reserve + 2) * (1.0 + config_.headroom)) + 1;
  sc.slots_total = static_cast<int32_t>(config_.max_requests * per_request + 1);
  FM_RETURN_IF_ERROR(sc.Validate());
  FM_RETURN_IF_ERROR(config_.link.Validate());

  const int64_t slot = geometry_.slot_bytes();
  cold_.assign(static_cast<size_t>(config_.max_requests * cold_pages_per_row_ * slot),
               std::byte{0});
  hot_.assign(static_cast<size_t>(sc.slots_total * slot), std::byte{0});
  FM_ASSIGN_OR_RETURN(link_, sched::SimLink::Create(config_.link, clock_, absl::MakeSpan(cold_),
                                                     absl::MakeSpan(hot_)));
  FM_ASSIGN_OR_RETURN(scheduler_, sched::Scheduler::Create(sc, link_.get()));

  if (config_.mode == SelectionMode::kLsa) {
    Level1Options o;
    o.policy = config_.params.policy;
    o.geometry = geometry_;
    o.kmax_max_pages = kmax_reserve;
    FM_ASSIGN_OR_RETURN(Level1 l1, Level1::Create(indexer_, o));
    level1_.emplace(std::move(l1));
  }
  return absl::OkStatus();
}

int64_t Engine::ChunkCount(const Sequence& seq) const {
  return seq.IndexKeyCount(csa_layers_.front());
}

int64_t Engine::full_kv_bytes() const {
  int64_t pages = 0;
  for (const auto& r : requests_) {
    pages += sched::PagesForChunks(ChunkCount(*r->seq), geometry_);
  }
  return pages * geometry_.slot_bytes();
}

absl::Status Engine::FillColdPage(const Request& r, int64_t page, int64_t n_chunks) {
  const int64_t base = sched::ColdOffsetBytes(sched::ColdPageId{r.row * cold_pages_per_row_ + page},
                                              geometry_);
  const int64_t first = page * geometry_.chunks_per_page;
  const int64_t count = std::min<int64_t>(n_chunks, first + geometry_.chunks_per_page) - first;
  for (int32_t l = 0; l < geometry_.csa_layers && count > 0; ++l) {
    FM_ASSIGN_OR_RETURN(
        absl::Span<const uint8_t> bytes,
        r.seq->CompressedKvBytes(csa_layers_[static_cast<size_t>(l)], first, count));
    std::memcpy(cold_.data() + base + l * geometry_.kv_block_bytes(), bytes.data(), bytes.size());
  }
  return absl::OkStatus();
}

absl::Status Engine::WriteHotChunk(const Request& r, int64_t chunk, sched::CellIndex cell) {
  // What the compressor writes in-graph on a GPU: the new entry of every CSA layer, in its cell.
  const int64_t slot = cell.v / geometry_.chunks_per_page;
  const int64_t in_page = cell.v % geometry_.chunks_per_page;
  for (int32_t l = 0; l < geometry_.csa_layers; ++l) {
    FM_ASSIGN_OR_RETURN(absl::Span<const uint8_t> bytes,
                        r.seq->CompressedKvBytes(csa_layers_[static_cast<size_t>(l)], chunk, 1));
    const int64_t off = slot * geometry_.slot_bytes() + l * geometry_.kv_block_bytes() +
                        in_page * geometry_.kv_entry_bytes;
    std::memcpy(hot_.data() + off, bytes.data(), bytes.size());
  }
  return absl::OkStatus();
}

absl::Status Engine::VerifyLiveBytes(const Request& r) {
  FM_ASSIGN_OR_RETURN(std::vector<sched::PageSlot> table, scheduler_->LiveTable(r.sid()));
  const int64_t n = ChunkCount(*r.seq);
  const int64_t entry = geometry_.kv_entry_bytes;
  int64_t checked = 0;
  for (const sched::PageSlot& ps : table) {
    const int64_t first = sched::FirstChunkOf(ps.page, geometry_).v;
    const int64_t count = std::min<int64_t>(n, first + geometry_.chunks_per_page) - first;
    for (int32_t l = 0; l < geometry_.csa_layers && count > 0; ++l) {
      FM_ASSIGN_OR_RETURN(
          absl::Span<const uint8_t> want,
          r.seq->CompressedKvBytes(csa_layers_[static_cast<size_t>(l)], first, count));
      const std::byte* got = hot_.data() + sched::SlotOffsetBytes(ps.slot, geometry_) +
                             l * geometry_.kv_block_bytes();
      if (std::memcmp(got, want.data(), want.size()) == 0) {
        checked += static_cast<int64_t>(want.size());
        continue;
      }
      for (int64_t c = 0; c < count; ++c) {
        const int64_t at = c * entry;
        if (std::memcmp(got + at, want.data() + at, static_cast<size_t>(entry)) == 0) continue;
        return absl::InternalError(absl::StrCat(
            "Engine: request ", r.id, " chunk ", first + c, " layer ",
            csa_layers_[static_cast<size_t>(l)], " in slot ", ps.slot.v,
            ": the hot cell's bytes differ from the model's stored entry (a copy was lost,",
            " misplaced or published before it landed)"));
      }
    }
  }
  stats_.bytes_verified += checked;
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> Engine::AddRequest(absl::Span<const int32_t> prompt,
                                            int64_t synthetic_tokens, int64_t decode_tokens,
                                            uint64_t seed) {
  const int64_t context = prompt.empty() ? synthetic_tokens : static_cast<int64_t>(prompt.size());
  if (context < 2 || decode_tokens < 1 || context + decode_tokens > config_.max_context_tokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Engine::AddRequest: context ", context, " + decode ", decode_tokens,
        ", expected context >= 2, decode >= 1 and a sum <= max_context_tokens ",
        config_.max_context_tokens));
  }
  auto row_it = std::find(row_used_.begin(), row_used_.end(), uint8_t{0});
  if (row_it == row_used_.end()) {
    return absl::UnavailableError(absl::StrCat("Engine::AddRequest: all ", config_.max_requests,
                                               " rows are taken"));
  }
  auto r = std::make_unique<Request>();
  r->id = next_id_;
  r->row = row_it - row_used_.begin();
  r->decode_left = decode_tokens;
  r->step_origin = step_;
  r->admit_step = step_;
  // The request's context, identical in the sequence, the coverage shadow and the oracle's twin.
  // The last prompt token is the first decode input, so every request starts with a decode.
  auto fill_context = [&](Sequence& seq) {
    if (prompt.empty()) return seq.FillSyntheticContext(synthetic_tokens, seed);
    return seq.Prefill(prompt.first(prompt.size() - 1), config_.prefill_chunk_tokens, nullptr);
  };
  r->seq = model_->NewSequence();
  if (level1_) FM_RETURN_IF_ERROR(level1_->Attach(*r->seq));
  FM_RETURN_IF_ERROR(fill_context(*r->seq));
  if (config_.measure_coverage) {
    r->shadow = model_->NewSequence();
    r->shadow->SetIndexerTracing(true);
    FM_RETURN_IF_ERROR(fill_context(*r->shadow));
  }
  if (prompt.empty()) {
    r->next_token = static_cast<int32_t>(Mix64(seed) %
                                         static_cast<uint64_t>(model_->config().vocab_size));
  } else {
    r->next_token = prompt.back();
    r->has_hidden = true;
  }
  if (config_.mode == SelectionMode::kOracle) {
    std::unique_ptr<Sequence> twin = model_->NewSequence();
    FM_RETURN_IF_ERROR(fill_context(*twin));
    r->oracle = std::make_unique<RunAheadOracle>(std::move(twin), r->next_token, decode_tokens,
                                                 csa_layers_, model_->config().vocab_size);
  }
  traces::EmitRequest(r->id, traces::RequestState::kPrefilled, static_cast<uint32_t>(r->row));

  if (scheduler_) {
    const int64_t n = ChunkCount(*r->seq);
    for (int64_t p = 0; p < sched::PagesForChunks(n, geometry_); ++p) {
      FM_RETURN_IF_ERROR(FillColdPage(*r, p, n));
    }
    std::vector<uint8_t> density;
    FM_RETURN_IF_ERROR(Density(*r, step_, &density));
    sched::AdmitSpec spec;
    spec.request = r->sid();
    spec.step = step_;
    spec.context_chunks = n;
    for (int64_t p = 0; p < cold_pages_per_row_; ++p) {
      spec.cold_pages.push_back(sched::ColdPageId{r->row * cold_pages_per_row_ + p});
    }
    spec.density = density;
    FM_ASSIGN_OR_RETURN(sched::CyclePlan plan, scheduler_->Admit(spec));
    r->step_origin = plan.next_boundary_step - config_.params.tau_steps;
    StepRecord rec;
    RecordPlan(plan, &rec);
    const sched::PublishDecision d = scheduler_->PublishDue(r->sid(), step_);
    if (d.action != sched::PublishAction::kPublish) {
      return absl::InternalError(absl::StrCat("Engine::AddRequest: request ", r->id,
                                              " generation 0 is not publishable after Admit"));
    }
    for (const sched::CopyTicket& t : d.wait_for) EmitIssued(t, plan.h2d_bytes);
    FM_RETURN_IF_ERROR(Publish(*r, d, &rec));
    RecordScores(*r);
  }
  row_used_[static_cast<size_t>(r->row)] = 1;
  ++next_id_;
  const uint32_t id = r->id;
  traces::EmitRequest(id, traces::RequestState::kAdmitted, static_cast<uint32_t>(r->row));
  requests_.push_back(std::move(r));
  return id;
}

absl::Status Engine::Density(Request& r, int64_t first_served, std::vector<uint8_t>* density) {
  const int64_t n = ChunkCount(*r.seq);
  density->assign(static_cast<size_t>(sched::PagesForChunks(n, geometry_)), 0);
  switch (config_.mode) {
    case SelectionMode::kFull:
    case SelectionMode::kRecency:
      return absl::OkStatus();
    case SelectionMode::kRandom: {
      std::mt19937_64 rng(Mix64(config_.seed ^ (uint64_t{r.id} << 32) ^
                                static_cast<uint64_t>(step_)));
      for (uint8_t& d : *density) {
        d = static_cast<uint8_t>(rng() % static_cast<uint64_t>(geometry_.chunks_per_page + 1));
      }
      return absl::OkStatus();
    }
    case SelectionMode::kLsa:
      // A synthetic context has no hidden state until its first decode: recency until then.
      if (!r.has_hidden) return absl::OkStatus();
      FM_RETURN_IF_ERROR(UseLevel1PolicyOf(r));
      FM_RETURN_IF_ERROR(level1_->RunCycle(*r.seq, &r.level1));
      r.level1_step = step_;
      *density = r.level1.density;
      return absl::OkStatus();
    case SelectionMode::kOracle: {
      // The table serves from `first_served` until the publish after the next boundary, τ steps
      // after this one: the picks of exactly those steps, from the run-ahead full run.
      const int64_t now = step_ - r.admit_step;
      const sched::SchedulerParams p = NextParams(r.id);  // the knobs this cycle applies
      const int64_t end = now + p.tau_steps + p.publish_delay_steps;
      FM_RETURN_IF_ERROR(r.oracle->Advance(now, end));
      return r.oracle->Density(first_served - r.admit_step, end, geometry_.chunks_per_page,
                               density);
    }
  }
  return absl::InternalError("Engine::Density: unknown mode");
}

void Engine::RecordPlan(const sched::CyclePlan& plan, StepRecord* rec) {
  if (plan.overrun) return;
  if (cycle_observer_) cycle_observer_(plan.request.v, plan.params);
  ++stats_.cycles;
  stats_.cycle_h2d_bytes += plan.h2d_bytes;
  stats_.evictions += static_cast<int64_t>(plan.evictions.size());
  rec->boundary = true;
  traces::EmitSelect(plan.request.v, static_cast<uint32_t>(plan.generation),
                     static_cast<uint16_t>(std::min<size_t>(plan.selected.size(), 0xFFFF)),
                     static_cast<uint16_t>(std::min<size_t>(plan.fetches.size(), 0xFFFF)));
  for (const sched::PageSlot& f : plan.fetches) {
    traces::EmitPage(plan.request.v, static_cast<uint32_t>(f.page.v),
                     traces::PageState::kFetching, static_cast<uint32_t>(f.slot.v), 0);
  }
  for (const sched::Eviction& e : plan.evictions) {
    traces::EmitPage(e.owner.v, static_cast<uint32_t>(e.page.v), traces::PageState::kCold,
                     static_cast<uint32_t>(e.slot.v), 0);
  }
}

absl::Status Engine::Boundary(Request& r, StepRecord* rec) {
  std::vector<uint8_t> density;
  FM_RETURN_IF_ERROR(Density(r, step_ + NextParams(r.id).publish_delay_steps, &density));
  sched::CyclePlan plan;
  const sched::CycleInput in{r.sid(), step_, ChunkCount(*r.seq), density};
  if (absl::Status s = scheduler_->PlanCycle(in, &plan); !s.ok()) {
    // No slot even for the tail pages now: the boundary does not advance, retry next step.
    if (absl::IsResourceExhausted(s)) {
      ++stats_.exhausted_retries;
      return absl::OkStatus();
    }
    return s;
  }
  FM_RETURN_IF_ERROR(scheduler_->ApplyCycle(plan));
  RecordPlan(plan, rec);
  RecordScores(r);
  return absl::OkStatus();
}

absl::Status Engine::Publish(Request& r, const sched::PublishDecision& d, StepRecord* rec) {
  int64_t stall_ns = 0;
  for (const sched::CopyTicket& t : d.wait_for) {
    // Never block on a copy that has landed; a wait is the publish stall (DESIGN §5).
    if (!link_->IsDone(t)) {
      FM_ASSIGN_OR_RETURN(int64_t waited, link_->Wait(t));
      stall_ns += waited;
    }
  }
  FM_RETURN_IF_ERROR(scheduler_->OnFlipped(r.sid(), d.generation, stall_ns));
  rec->stall_ns += stall_ns;
  stats_.stall_ns += stall_ns;
  traces::EmitPublish(r.id, traces::NowNs(), static_cast<uint32_t>(d.generation),
                      static_cast<uint64_t>(stall_ns), 0, 0);
  return VerifyLiveBytes(r);
}

absl::Status Engine::EnsureLiveCovers(Request& r, StepRecord* rec) {
  const int64_t len = r.seq->length();
  const int64_t n = ChunkCount(*r.seq);
  if ((len + 1) / geometry_.tokens_per_chunk <= n) return absl::OkStatus();  // forms no chunk
  const sched::ChunkIndex next{n};
  for (int attempt = 0; attempt < 2 && !scheduler_->LiveCovers(r.sid(), next); ++attempt) {
    ++stats_.forced_publishes;
    if (!scheduler_->HasStaged(r.sid())) {
      std::vector<uint8_t> density;
      FM_RETURN_IF_ERROR(Density(r, step_, &density));  // published at once
      sched::CyclePlan plan;
      const sched::CycleInput in{r.sid(), step_, n, density};
      FM_RETURN_IF_ERROR(scheduler_->PlanCycle(in, &plan));
      FM_RETURN_IF_ERROR(scheduler_->ApplyCycle(plan));
      RecordPlan(plan, rec);
    }
    FM_ASSIGN_OR_RETURN(sched::CopyTicket t, scheduler_->IssueAllNow(r.sid()));
    EmitIssued(t, 0);  // the rest of a plan already reported at its boundary
    FM_ASSIGN_OR_RETURN(int64_t live, scheduler_->LiveGeneration(r.sid()));
    sched::PublishDecision d;
    d.action = sched::PublishAction::kPublish;
    d.generation = live + 1;
    if (t.valid()) d.wait_for.push_back(t);
    FM_RETURN_IF_ERROR(Publish(r, d, rec));
  }
  if (!scheduler_->LiveCovers(r.sid(), next)) {
    return absl::InternalError(absl::StrCat("Engine: request ", r.id, " chunk ", n,
                                            " is not covered by the live table after a publish"));
  }
  return absl::OkStatus();
}

void Engine::ApplyLiveTable(Request& r) {
  // Level 2 reads the picked CSA entries from the hot pool through the live table: page -> slot,
  // the scheduler's LUT as published (the sequence derives the candidate mask from it).
  absl::StatusOr<std::vector<sched::PageSlot>> table = scheduler_->LiveTable(r.sid());
  KvPoolView pool;
  pool.base = hot_.data();
  pool.pool_bytes = static_cast<int64_t>(hot_.size());
  pool.slot_bytes = geometry_.slot_bytes();
  pool.entry_bytes = geometry_.kv_entry_bytes;
  pool.chunks_per_page = geometry_.chunks_per_page;
  for (int32_t l = 0; l < geometry_.csa_layers; ++l) {
    pool.block_offset.push_back(l * geometry_.kv_block_bytes());
  }
  if (table.ok() && !table->empty()) {
    pool.slot_of_page.assign(static_cast<size_t>(table->back().page.v + 1), -1);
    for (const sched::PageSlot& ps : *table) {
      pool.slot_of_page[static_cast<size_t>(ps.page.v)] = ps.slot.v;
    }
  }
  ResidentSet set;
  set.pool = std::move(pool);
  r.seq->SetResidentChunks(std::move(set));
}

absl::Status Engine::DecodeOne(Request& r, StepRecord* rec) {
  const int64_t n0 = ChunkCount(*r.seq);
  if (scheduler_) {
    FM_RETURN_IF_ERROR(EnsureLiveCovers(r, rec));
    ApplyLiveTable(r);
  }
  r.logits.resize(static_cast<size_t>(model_->config().vocab_size));
  FM_RETURN_IF_ERROR(r.seq->Decode(r.next_token, r.logits.data()));
  r.has_hidden = true;
  if (r.shadow) {
    r.shadow_logits.resize(r.logits.size());
    FM_RETURN_IF_ERROR(r.shadow->Decode(r.next_token, r.shadow_logits.data()));
    const ResidentSet* set = r.seq->resident_chunks();
    for (int64_t layer : csa_layers_) {
      FM_ASSIGN_OR_RETURN(const IndexerTrace* t, r.shadow->LastIndexerTrace(layer));
      for (int32_t c : t->selected) {
        ++rec->picks;
        if (set == nullptr ||
            (c < static_cast<int64_t>(set->mask.size()) && set->mask[static_cast<size_t>(c)])) {
          ++rec->picks_resident;
        }
      }
    }
    FM_RETURN_IF_ERROR(RecordLabels(r));
  }
  const int64_t n1 = ChunkCount(*r.seq);
  for (int64_t c = n0; scheduler_ && c < n1; ++c) {
    std::optional<sched::CellIndex> cell = scheduler_->ResidentCell(r.sid(), sched::ChunkIndex{c});
    if (!cell) {
      return absl::InternalError(absl::StrCat("Engine: request ", r.id, " new chunk ", c,
                                              " has no resident cell"));
    }
    FM_RETURN_IF_ERROR(WriteHotChunk(r, c, *cell));
  }
  if (r.oracle) {
    // One run-ahead decode per step keeps the twin τ + Δ steps ahead (bounded queue).
    const int64_t done = step_ - r.admit_step + 1;
    FM_RETURN_IF_ERROR(r.oracle->Advance(
        done, done + NextParams(r.id).tau_steps + NextParams(r.id).publish_delay_steps));
  }
  r.next_token = static_cast<int32_t>(std::max_element(r.logits.begin(), r.logits.end()) -
                                      r.logits.begin());
  r.generated.push_back(r.next_token);
  --r.decode_left;
  return absl::OkStatus();
}

absl::Status Engine::Release(Request& r) {
  if (scheduler_) {
    FM_ASSIGN_OR_RETURN(sched::Scheduler::FinishReport fr, scheduler_->Finish(r.sid()));
    // The row's cold pages are reused by the next request: wait for the copies touching them.
    if (fr.last_h2d.valid()) FM_RETURN_IF_ERROR(link_->Wait(fr.last_h2d).status());
    if (fr.last_d2h.valid()) FM_RETURN_IF_ERROR(link_->Wait(fr.last_d2h).status());
    scheduler_->Poll();
  }
  row_used_[static_cast<size_t>(r.row)] = 0;
  traces::EmitRequest(r.id, traces::RequestState::kFinished, static_cast<uint32_t>(r.row));
  finished_.push_back(Finished{r.id, std::move(r.generated), std::move(r.logits)});
  return absl::OkStatus();
}

absl::StatusOr<StepRecord> Engine::Step() {
  StepRecord rec;
  rec.step = step_;
  const int64_t t0 = MonotonicNs();
  if (scheduler_) {
    for (auto& r : requests_) {
      if (scheduler_->IsBoundary(r->sid(), step_)) FM_RETURN_IF_ERROR(Boundary(*r, &rec));
    }
    FM_ASSIGN_OR_RETURN(sched::IssueReport issue, scheduler_->IssueCopies(step_));
    rec.h2d_bytes = issue.h2d_bytes;
    if (issue.h2d.valid()) {
      EmitIssued(issue.h2d, issue.h2d_bytes);
    }
    if (issue.d2h.valid()) {
      traces::EmitCopyIssue(issue.d2h.seq | (uint64_t{1} << 63),
                            static_cast<uint64_t>(issue.d2h_bytes), 0);
    }
    for (auto& r : requests_) {
      const sched::PublishDecision d = scheduler_->PublishDue(r->sid(), step_);
      if (d.action == sched::PublishAction::kPublish) FM_RETURN_IF_ERROR(Publish(*r, d, &rec));
    }
  }
  for (auto& r : requests_) {
    FM_RETURN_IF_ERROR(DecodeOne(*r, &rec));
    ++rec.rows;
  }
  if (scheduler_) {
    scheduler_->Poll();
    EmitCompletions();
  }
  for (size_t i = 0; i < requests_.size();) {
    if (requests_[i]->decode_left <= 0) {
      FM_RETURN_IF_ERROR(Release(*requests_[i]));
      requests_.erase(requests_.begin() + static_cast<std::ptrdiff_t>(i));
      ++rec.finished;
    } else {
      ++i;
    }
  }
  if (scheduler_ && rec.finished > 0) EmitCompletions();  // a release waited for its copies
  rec.wall_ns = MonotonicNs() - t0;
  if (clock_->is_virtual() && config_.virtual_step_ns > 0) {
    clock_->AdvanceTo(clock_->NowNs() + config_.virtual_step_ns);
  }
  ++step_;
  ++stats_.steps;
  stats_.tokens += rec.rows;
  stats_.wall_ns += rec.wall_ns;
  stats_.picks += rec.picks;
  stats_.picks_resident += rec.picks_resident;
  traces::EmitStep(traces::NowNs(), static_cast<uint64_t>(rec.step),
                   static_cast<uint32_t>(rec.rows), static_cast<uint32_t>(rec.rows), 0, 0);
  EmitCounters();
  return rec;
}

const std::vector<int32_t>* Engine::Generated(uint32_t id) const {
  for (const auto& r : requests_) {
    if (r->id == id) return &r->generated;
  }
  for (const Finished& f : finished_) {
    if (f.id == id) return &f.tokens;
  }
  return nullptr;
}

const std::vector<float>* Engine::LastLogits(uint32_t id) const {
  for (const auto& r : requests_) {
    if (r->id == id) return &r->logits;
  }
  for (const Finished& f : finished_) {
    if (f.id == id) return &f.logits;
  }
  return nullptr;
}

}  // namespace fm::rt
