// Scheduler: admission, the apply half of plan-then-apply, copy issue, the publish protocol
// (DESIGN.md §5 invariants 1-7) and the release of slots. PlanCycle is in scheduler_plan.cc and
// CheckInvariants in scheduler_invariants.cc.

#include "scheduler/scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_format.h"
#include "common/check.h"

namespace fm::sched {

absl::Status SchedulerParams::Validate(const GeometryConfig& geometry,
                                       int32_t kmax_max_pages) const {
  if (absl::Status s = policy.Validate(kmax_max_pages); !s.ok()) return s;
  if (tau_steps < 1 || tau_steps > 256) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SchedulerParams.tau_steps: %d, expected in [1, 256]", tau_steps));
  }
  if (publish_delay_steps < 1 || publish_delay_steps > tau_steps) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SchedulerParams.publish_delay_steps: %d, expected in [1, tau_steps %d]",
                        publish_delay_steps, tau_steps));
  }
  if (tau_steps + publish_delay_steps > geometry.tokens_per_page()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "SchedulerParams: tau_steps %d + publish_delay_steps %d = %d, expected <= tokens per page "
        "%d (decode between two publishes must fit in the tail and spare pages)",
        tau_steps, publish_delay_steps, tau_steps + publish_delay_steps,
        geometry.tokens_per_page()));
  }
  if (h2d_bytes_per_step <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "SchedulerParams.h2d_bytes_per_step: %d, expected > 0", h2d_bytes_per_step));
  }
  return absl::OkStatus();
}

absl::Status SchedulerConfig::Validate() const {
  if (absl::Status s = geometry.Validate(); !s.ok()) return s;
  if (slots_total <= 0 || slots_total > (1 << 24)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SchedulerConfig.slots_total: %d, expected in [1, 16777216]", slots_total));
  }
  if (kmax_max_pages < 1 || kmax_max_pages > (1 << 20)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "SchedulerConfig.kmax_max_pages: %d, expected in [1, 1048576]", kmax_max_pages));
  }
  if (max_requests < 1 || max_requests > (1 << 16)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SchedulerConfig.max_requests: %d, expected in [1, 65536]", max_requests));
  }
  if (!(headroom >= 0.0 && headroom <= 16.0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("SchedulerConfig.headroom: %g, expected in [0, 16]", headroom));
  }
  return params.Validate(geometry, kmax_max_pages);
}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(const SchedulerConfig& config,
                                                             CopyEngine* copies) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (copies == nullptr) return absl::InvalidArgumentError("Scheduler::Create: copies is null");
  return std::unique_ptr<Scheduler>(new Scheduler(config, copies));
}

Scheduler::Scheduler(const SchedulerConfig& config, CopyEngine* copies)
    : config_(config), copies_(copies), pool_(config.slots_total), params_(config.params) {}

Scheduler::RequestState* Scheduler::Find(RequestId id) {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : it->second.get();
}

const Scheduler::RequestState* Scheduler::Find(RequestId id) const {
  auto it = requests_.find(id);
  return it == requests_.end() ? nullptr : it->second.get();
}

const SchedulerParams& Scheduler::ParamsFor(const RequestState& r) const {
  return r.params_override ? *r.params_override : params_;
}

int32_t Scheduler::NextPhase(int32_t tau_steps) {
  // Round-robin with a stride coprime to τ near τ·0.618: the first τ requests get τ distinct
  // phases, and any few consecutive requests are spread far apart (invariant 7).
  int32_t stride = std::max(1, static_cast<int32_t>(std::lround(tau_steps * 0.6180339887)));
  while (std::gcd(stride, tau_steps) != 1) ++stride;
  return static_cast<int32_t>((admissions_ * stride) % tau_steps);
}

absl::StatusOr<CyclePlan> Scheduler::Admit(const AdmitSpec& spec) {
  const GeometryConfig& g = config_.geometry;
  if (Find(spec.request) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrFormat("Scheduler::Admit: request %u is already admitted", spec.request.v));
  }
  if (spec.context_chunks < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Scheduler::Admit: request %u context_chunks %d, expected >= 0",
                        spec.request.v, spec.context_chunks));
  }
  if (static_cast<int32_t>(requests_.size()) >= config_.max_requests) {
    return absl::UnavailableError(
        absl::StrFormat("Scheduler::Admit: request %u waits: %d requests admitted, max_requests %d",
                        spec.request.v, requests_.size(), config_.max_requests));
  }
  const int32_t kmax = EffectiveKmaxPages(params_.policy, PagesForChunks(spec.context_chunks, g),
                                          config_.kmax_max_pages);
  const int64_t need = int64_t{kmax} + 2;
  if (need > config_.slots_total) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "Scheduler::Admit: request %u needs kmax %d + 2 = %d slots, the hot pool has "
        "slots_total = %d",
        spec.request.v, kmax, need, config_.slots_total));
  }
  const double wanted = static_cast<double>(reserved_slots_ + need) * (1.0 + config_.headroom);
  if (wanted > config_.slots_total) {
    return absl::UnavailableError(absl::StrFormat(
        "Scheduler::Admit: request %u waits for slots: (reserved %d + kmax %d + 2) x (1 + "
        "headroom %g) = %g > slots_total %d",
        spec.request.v, reserved_slots_, kmax, config_.headroom, wanted, config_.slots_total));
  }

  auto state = std::make_unique<RequestState>();
  RequestState& r = *state;
  r.id = spec.request;
  r.phase = NextPhase(params_.tau_steps);
  // The first boundary after admission is the first step t > spec.step with t % τ == phase.
  const int64_t first = spec.step + 1;
  const int64_t first_boundary =
      first + ((r.phase - first) % params_.tau_steps + params_.tau_steps) % params_.tau_steps;
  r.cold_pages = spec.cold_pages;
  r.tail_page = PageOf(ChunkIndex{spec.context_chunks}, g);
  r.applied_params = params_;
  requests_.emplace(spec.request, std::move(state));

  CyclePlan plan;
  const CycleInput input{spec.request, spec.step, spec.context_chunks, spec.density};
  if (absl::Status s = PlanFor(r, input, &plan); !s.ok()) {
    requests_.erase(spec.request);
    return s;
  }
  plan.next_boundary_step = first_boundary;
  ++admissions_;
  reserved_slots_ += need;
  reserved_by_request_[spec.request] = need;
  if (absl::Status s = ApplyCycle(plan); !s.ok()) return s;
  // Generation 0 is published before the first decode step, so its copies go out now, whole.
  if (absl::StatusOr<CopyTicket> t = IssueAllNow(spec.request); !t.ok()) return t.status();
  r.publish_step = spec.step;
  plan.publish_step = spec.step;
  return plan;
}

absl::Status Scheduler::AddColdPages(RequestId request, absl::Span<const ColdPageId> pages) {
  RequestState* r = Find(request);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("Scheduler::AddColdPages: request %u is not admitted", request.v));
  }
  r->cold_pages.insert(r->cold_pages.end(), pages.begin(), pages.end());
  return absl::OkStatus();
}

absl::Status Scheduler::SetParams(const SchedulerParams& params, std::optional<RequestId> request) {
  if (absl::Status s = params.Validate(config_.geometry, config_.kmax_max_pages); !s.ok()) {
    return s;
  }
  if (!request) {
    params_ = params;
    return absl::OkStatus();
  }
  RequestState* r = Find(*request);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("Scheduler::SetParams: request %u is not admitted", request->v));
  }
  r->params_override = params;
  return absl::OkStatus();
}

bool Scheduler::IsBoundary(RequestId request, int64_t step) const {
  const RequestState* r = Find(request);
  return r != nullptr && step >= r->next_boundary_step;
}

void Scheduler::StageTable(RequestState& r, const CyclePlan& plan) {
  Table& staged = r.tables[1 - r.live_half];
  FM_CHECK(staged.entries.empty());
  staged.entries = plan.table;
  for (const PageSlot& e : staged.entries) pool_.Ref(e.slot);
}

absl::Status Scheduler::ApplyCycle(const CyclePlan& plan) {
  RequestState* r = Find(plan.request);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("Scheduler::ApplyCycle: request %u is not admitted", plan.request.v));
  }
  if (plan.residency_epoch != epoch_) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "Scheduler::ApplyCycle: request %u plan was made at epoch %d, residency is at epoch %d",
        plan.request.v, plan.residency_epoch, epoch_));
  }
  r->next_boundary_step = plan.next_boundary_step;
  if (plan.overrun) {
    ++stats_.cycle_overruns;
    return absl::OkStatus();
  }
  const GeometryConfig& g = config_.geometry;
  r->applied_params = plan.params;
  const size_t table_pages = static_cast<size_t>(plan.tail_page.v) + 2;
  if (r->slot_of_page.size() < table_pages) r->slot_of_page.resize(table_pages, -1);
  for (const Eviction& e : plan.evictions) {
    RequestState* owner = Find(e.owner);
    FM_CHECK_MSG(owner != nullptr, "a Cached slot belongs to an admitted request");
    owner->slot_of_page[static_cast<size_t>(e.page.v)] = -1;
  }
  for (const PageSlot& f : plan.fetches) {
    pool_.Claim(f.slot, r->id, f.page, SlotState::kFetching);
    r->slot_of_page[static_cast<size_t>(f.page.v)] = f.slot.v;
  }
  for (const PageSlot& d : plan.new_tail) {
    pool_.Claim(d.slot, r->id, d.page, SlotState::kDirty);
    r->slot_of_page[static_cast<size_t>(d.page.v)] = d.slot.v;
  }
  for (const PageSlot& w : plan.writebacks) {
    pool_.StartWriteback(w.slot);
    writebacks_.push_back(
        Writeback{r->id, w.slot, CopyTicket{},
                  CopyRange{SlotOffsetBytes(w.slot, g),
                            ColdOffsetBytes(r->cold_pages[static_cast<size_t>(w.page.v)], g),
                            g.slot_bytes()}});
  }
  StageTable(*r, plan);
  r->staged = true;
  r->staged_gen = plan.generation;
  r->publish_step = plan.publish_step;
  r->staged_tickets.clear();
  for (const CopyRange& range : plan.h2d_ranges) r->h2d_queue.Push(range);
  r->staged_issued = r->h2d_queue.empty();
  if (!r->staged_issued) issue_fifo_.push_back(r->id);
  r->context_chunks = plan.context_chunks;
  r->tail_page = plan.tail_page;

  ++stats_.cycles_planned;
  stats_.pages_selected += static_cast<int64_t>(plan.selected.size());
  stats_.page_hits += static_cast<int64_t>(plan.hits.size());
  stats_.page_misses += static_cast<int64_t>(plan.fetches.size() + plan.truncated.size());
  stats_.evictions += static_cast<int64_t>(plan.evictions.size());
  stats_.pages_truncated += static_cast<int64_t>(plan.truncated.size());
  stats_.writebacks += static_cast<int64_t>(plan.writebacks.size());
  stats_.tail_overflow_pages += plan.tail_overflow_pages;
  ++epoch_;
  return absl::OkStatus();
}

absl::StatusOr<IssueReport> Scheduler::IssueCopies(int64_t /*step*/) {
  const int64_t slot_bytes = config_.geometry.slot_bytes();
  IssueReport report;
  std::vector<CopyRange> batch;
  struct Piece {
    RequestState* r;
    size_t begin, end;
  };
  std::vector<Piece> pieces;
  int64_t budget = params_.h2d_bytes_per_step;
  for (RequestId id : issue_fifo_) {
    if (budget <= 0) break;
    RequestState* r = Find(id);
    const size_t begin = batch.size();
    budget -= r->h2d_queue.Take(budget, slot_bytes, /*at_least_one_slot=*/pieces.empty(), &batch);
    pieces.push_back(Piece{r, begin, batch.size()});
  }
  if (!batch.empty()) {
    absl::StatusOr<CopyTicket> t = copies_->Submit(CopyDirection::kHostToDevice, batch);
    if (!t.ok()) {
      // Put the pieces back in front of their queues so nothing is lost; the caller may retry.
      for (const Piece& p : pieces) {
        CopyQueue rest;
        for (size_t i = p.begin; i < p.end; ++i) rest.Push(batch[i]);
        std::vector<CopyRange> tail;
        p.r->h2d_queue.Take(std::numeric_limits<int64_t>::max() / 2, slot_bytes, false, &tail);
        for (const CopyRange& x : tail) rest.Push(x);
        p.r->h2d_queue = std::move(rest);
      }
      return t.status();
    }
    report.h2d = *t;
    report.h2d_ranges = static_cast<int32_t>(batch.size());
    for (const CopyRange& x : batch) report.h2d_bytes += x.bytes;
    stats_.h2d_bytes += report.h2d_bytes;
    for (const Piece& p : pieces) {
      if (p.begin == p.end) continue;
      p.r->staged_tickets.push_back(*t);
      if (p.r->h2d_queue.empty()) {
        p.r->staged_issued = true;  // PlanIssued: the engine may now publish
        report.plans_issued.push_back(p.r->id);
      }
    }
    issue_fifo_.erase(std::remove_if(issue_fifo_.begin(), issue_fifo_.end(),
                                     [&](RequestId id) { return Find(id)->h2d_queue.empty(); }),
                      issue_fifo_.end());
  }

  std::vector<PageMove> moves;
  for (const Writeback& w : writebacks_) {
    if (!w.ticket.valid())
      moves.push_back(PageMove{w.range.src_offset_bytes, w.range.dst_offset_bytes});
  }
  if (!moves.empty()) {
    std::sort(moves.begin(), moves.end(), [](const PageMove& a, const PageMove& b) {
      return a.src_offset_bytes < b.src_offset_bytes;
    });
    std::vector<CopyRange> d2h;
    CoalescePageMoves(moves, slot_bytes, &d2h);
    absl::StatusOr<CopyTicket> t = copies_->Submit(CopyDirection::kDeviceToHost, d2h);
    if (!t.ok()) return t.status();
    for (Writeback& w : writebacks_) {
      if (!w.ticket.valid()) w.ticket = *t;
    }
    report.d2h = *t;
    report.d2h_ranges = static_cast<int32_t>(d2h.size());
    report.d2h_bytes = static_cast<int64_t>(moves.size()) * slot_bytes;
    stats_.d2h_bytes += report.d2h_bytes;
  }
  return report;
}

absl::StatusOr<CopyTicket> Scheduler::IssueAllNow(RequestId request) {
  RequestState* r = Find(request);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("Scheduler::IssueAllNow: request %u is not admitted", request.v));
  }
  if (!r->staged || r->staged_issued) return CopyTicket{};
  std::vector<CopyRange> batch;
  r->h2d_queue.Take(std::numeric_limits<int64_t>::max() / 2, config_.geometry.slot_bytes(),
                    /*at_least_one_slot=*/false, &batch);
  absl::StatusOr<CopyTicket> t = copies_->Submit(CopyDirection::kHostToDevice, batch);
  if (!t.ok()) {
    for (const CopyRange& x : batch) r->h2d_queue.Push(x);
    return t.status();
  }
  for (const CopyRange& x : batch) stats_.h2d_bytes += x.bytes;
  r->staged_tickets.push_back(*t);
  r->staged_issued = true;
  issue_fifo_.erase(std::remove(issue_fifo_.begin(), issue_fifo_.end(), request),
                    issue_fifo_.end());
  return *t;
}

bool Scheduler::LiveCovers(RequestId request, ChunkIndex chunk) const {
  const RequestState* r = Find(request);
  if (r == nullptr) return false;
  const PageIndex p = PageOf(chunk, config_.geometry);
  const std::vector<PageSlot>& live = r->tables[r->live_half].entries;
  return std::binary_search(live.begin(), live.end(), PageSlot{p, SlotId{}},
                            [](const PageSlot& a, const PageSlot& b) { return a.page < b.page; });
}

bool Scheduler::HasStaged(RequestId request) const {
  const RequestState* r = Find(request);
  return r != nullptr && r->staged;
}

PublishDecision Scheduler::PublishDue(RequestId request, int64_t step) {
  PublishDecision d;
  RequestState* r = Find(request);
  if (r == nullptr || !r->staged || step < r->publish_step) return d;
  d.generation = r->staged_gen;
  if (!r->staged_issued) {
    ++stats_.publish_slips;  // PlanIssued has not arrived: run one more step on the old table
    d.action = PublishAction::kSlip;
    return d;
  }
  d.action = PublishAction::kPublish;
  d.wait_for = r->staged_tickets;
  return d;
}

absl::Status Scheduler::OnFlipped(RequestId request, int64_t generation, int64_t stall_ns) {
  RequestState* r = Find(request);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("Scheduler::OnFlipped: request %u is not admitted", request.v));
  }
  if (!r->staged || generation != r->staged_gen || !r->staged_issued) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "Scheduler::OnFlipped: request %u flipped to generation %d, staged generation is %d "
        "(staged %d, issued %d)",
        request.v, generation, r->staged_gen, r->staged, r->staged_issued));
  }
  for (const CopyTicket& t : r->staged_tickets) {
    if (!copies_->IsDone(t)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "Scheduler::OnFlipped: request %u generation %d published before copy ticket %d landed",
          request.v, generation, t.seq));
    }
  }
  Table& old_table = r->tables[r->live_half];
  Table& new_table = r->tables[1 - r->live_half];
  for (const PageSlot& e : new_table.entries) {
    const SlotState st = pool_.info(e.slot).state;
    if (st == SlotState::kFetching) pool_.MarkFetched(e.slot);
    // The tail and spare receive decode writes from now on.
    if (e.page >= r->tail_page && pool_.info(e.slot).state == SlotState::kHot) {
      pool_.MarkDirty(e.slot);
    }
  }
  // Invariant 3: slots only the old generation used become reusable now, after the flip.
  for (const PageSlot& e : old_table.entries) pool_.Unref(e.slot);
  old_table.entries.clear();
  r->live_half = 1 - r->live_half;
  r->live_gen = generation;
  r->staged = false;
  r->staged_tickets.clear();
  ++stats_.generations_published;
  stats_.publish_stall_ns += stall_ns;
  ++epoch_;
  return absl::OkStatus();
}

void Scheduler::Poll() {
  bool changed = false;
  auto landed = [&](const CopyTicket& t) { return !t.valid() || copies_->IsDone(t); };
  std::vector<Writeback> still;
  for (const Writeback& w : writebacks_) {
    if (!w.ticket.valid() || !copies_->IsDone(w.ticket)) {
      still.push_back(w);
      continue;
    }
    // The owner may have finished (and its id been reused) while the D2H was in flight.
    const RequestState* owner = Find(w.owner);
    const SlotInfo& info = pool_.info(w.slot);
    const bool owned = owner != nullptr &&
                       info.page.v < static_cast<int64_t>(owner->slot_of_page.size()) &&
                       owner->slot_of_page[static_cast<size_t>(info.page.v)] == w.slot.v;
    if (owned) {
      pool_.FinishWriteback(w.slot);
    } else {
      pool_.Release(w.slot);  // the request finished while its page was being written back
    }
    changed = true;
  }
  writebacks_ = std::move(still);
  auto rest = std::remove_if(draining_.begin(), draining_.end(), [&](const Draining& d) {
    if (!landed(d.ticket)) return false;
    pool_.Release(d.slot);
    return true;
  });
  changed |= rest != draining_.end();
  draining_.erase(rest, draining_.end());
  if (changed) ++epoch_;
}

absl::StatusOr<Scheduler::FinishReport> Scheduler::Finish(RequestId request) {
  RequestState* r = Find(request);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("Scheduler::Finish: request %u is not admitted", request.v));
  }
  issue_fifo_.erase(std::remove(issue_fifo_.begin(), issue_fifo_.end(), request),
                    issue_fifo_.end());
  // FIFO per direction: the last H2D ticket covers every submitted copy of this request.
  const CopyTicket last_h2d = r->staged_tickets.empty() ? CopyTicket{} : r->staged_tickets.back();
  FinishReport report{last_h2d, CopyTicket{CopyDirection::kDeviceToHost, 0}};
  for (Table& t : r->tables) {
    for (const PageSlot& e : t.entries) pool_.Unref(e.slot);
    t.entries.clear();
  }
  for (size_t p = 0; p < r->slot_of_page.size(); ++p) {
    const int32_t s = r->slot_of_page[p];
    if (s < 0) continue;
    const SlotState st = pool_.info(SlotId{s}).state;
    if (st == SlotState::kWritingBack) {
      auto it = std::find_if(writebacks_.begin(), writebacks_.end(),
                             [&](const Writeback& w) { return w.slot.v == s; });
      FM_CHECK(it != writebacks_.end());
      if (it->ticket.valid()) {  // Poll frees it once the D2H has landed
        report.last_d2h.seq = std::max(report.last_d2h.seq, it->ticket.seq);
        continue;
      }
      writebacks_.erase(it);
    } else if (st == SlotState::kFetching && last_h2d.valid()) {
      draining_.push_back(Draining{SlotId{s}, last_h2d});
      continue;
    }
    pool_.Release(SlotId{s});
  }
  reserved_slots_ -= reserved_by_request_[request];
  reserved_by_request_.erase(request);
  requests_.erase(request);
  ++epoch_;
  return report;
}

absl::StatusOr<std::vector<PageSlot>> Scheduler::LiveTable(RequestId request) const {
  const RequestState* r = Find(request);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("Scheduler::LiveTable: request %u is not admitted", request.v));
  }
  return r->tables[r->live_half].entries;
}

absl::StatusOr<int64_t> Scheduler::LiveGeneration(RequestId request) const {
  const RequestState* r = Find(request);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("Scheduler::LiveGeneration: request %u is not admitted", request.v));
  }
  return r->live_gen;
}

absl::StatusOr<int32_t> Scheduler::Phase(RequestId request) const {
  const RequestState* r = Find(request);
  if (r == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("Scheduler::Phase: request %u is not admitted", request.v));
  }
  return r->phase;
}

std::optional<CellIndex> Scheduler::ResidentCell(RequestId request, ChunkIndex chunk) const {
  const RequestState* r = Find(request);
  if (r == nullptr || chunk.v < 0) return std::nullopt;
  const PageIndex p = PageOf(chunk, config_.geometry);
  if (p.v >= static_cast<int64_t>(r->slot_of_page.size())) return std::nullopt;
  const int32_t s = r->slot_of_page[static_cast<size_t>(p.v)];
  if (s < 0) return std::nullopt;
  return CellOf(SlotId{s}, chunk, config_.geometry);
}

}  // namespace fm::sched
