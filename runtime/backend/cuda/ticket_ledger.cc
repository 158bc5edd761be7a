#include "runtime/backend/cuda/ticket_ledger.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/check.h"

namespace fm::rt::cuda {

TicketLedger::TicketLedger(int32_t capacity) : capacity_(std::max(capacity, 1)) {
  for (PerDirection& d : dirs_) d.waiters.assign(static_cast<size_t>(capacity_), 0);
}

absl::StatusOr<TicketLedger::Reservation> TicketLedger::Reserve(sched::CopyDirection d) const {
  const PerDirection& pd = dirs_[Dir(d)];
  const uint64_t in_flight = pd.next - 1 - pd.completed;
  const int32_t slot = SlotOf(pd.next);
  // Slots are handed out in seq order, so the slot of seq `next` was last used by seq
  // `next - capacity`: free once that batch is complete and no host thread blocks on it.
  if (in_flight >= static_cast<uint64_t>(capacity_) || pd.waiters[static_cast<size_t>(slot)] > 0) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "CudaCopyEngine: %d %s batches in flight, limit max_pending_batches %d", in_flight,
        d == sched::CopyDirection::kHostToDevice ? "h2d" : "d2h", capacity_));
  }
  return Reservation{pd.next, slot};
}

sched::CopyTicket TicketLedger::Issue(sched::CopyDirection d, const Reservation& r) {
  PerDirection& pd = dirs_[Dir(d)];
  FM_CHECK(r.seq == pd.next);
  ++pd.next;
  return sched::CopyTicket{d, r.seq};
}

TicketLedger::Lookup TicketLedger::Find(sched::CopyTicket t) const {
  const PerDirection& pd = dirs_[Dir(t.direction)];
  if (t.seq == 0 || t.seq >= pd.next) return {State::kNeverIssued, -1};
  if (t.seq <= pd.completed) return {State::kDone, -1};
  return {State::kPending, SlotOf(t.seq)};
}

void TicketLedger::MarkDone(sched::CopyTicket t) {
  PerDirection& pd = dirs_[Dir(t.direction)];
  if (t.seq < pd.next) pd.completed = std::max(pd.completed, t.seq);
}

bool TicketLedger::OldestPending(sched::CopyDirection d, sched::CopyTicket* out) const {
  const PerDirection& pd = dirs_[Dir(d)];
  if (pd.completed + 1 >= pd.next) return false;
  *out = sched::CopyTicket{d, pd.completed + 1};
  return true;
}

void TicketLedger::AddWaiter(sched::CopyDirection d, int32_t slot) {
  ++dirs_[Dir(d)].waiters[static_cast<size_t>(slot)];
}

void TicketLedger::RemoveWaiter(sched::CopyDirection d, int32_t slot) {
  int32_t& w = dirs_[Dir(d)].waiters[static_cast<size_t>(slot)];
  FM_CHECK(w > 0);
  --w;
}

}  // namespace fm::rt::cuda
