#pragma once
// Bookkeeping of the CUDA copy engine's tickets, without CUDA: each direction has a ring of
// `capacity` event slots; batch `seq` is recorded into one slot and the slot is reused only once
// that batch is known complete (and nobody is blocked on it), so a query of a slot's event always
// answers for the batch the ticket names. Batches of one direction complete in submission order
// (one stream per direction), so learning that batch n landed also retires every batch before n.
// Not thread-safe: the engine holds its mutex around every call.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/copy_engine.h"

namespace fm::rt::cuda {

class TicketLedger {
 public:
  explicit TicketLedger(int32_t capacity);

  struct Reservation {
    uint64_t seq = 0;
    int32_t slot = 0;
  };
  // The seq and slot the next batch of `d` will use, or ResourceExhausted when every slot holds a
  // batch not yet known complete (the caller first retires what it can, see OldestPending).
  absl::StatusOr<Reservation> Reserve(sched::CopyDirection d) const;
  // The reserved batch was enqueued and its event recorded: the ticket is now issued.
  sched::CopyTicket Issue(sched::CopyDirection d, const Reservation& r);

  enum class State : uint8_t { kNeverIssued, kDone, kPending };
  struct Lookup {
    State state = State::kNeverIssued;
    int32_t slot = -1;  // kPending only
  };
  Lookup Find(sched::CopyTicket t) const;
  // The batch `t` (and so every earlier one of its direction) has landed.
  void MarkDone(sched::CopyTicket t);
  // Oldest issued batch of `d` not known complete, if any (its slot is the next to free).
  bool OldestPending(sched::CopyDirection d, sched::CopyTicket* out) const;

  // A host thread blocks on slot `slot` of `d`: the slot must not be reused until it is released.
  void AddWaiter(sched::CopyDirection d, int32_t slot);
  void RemoveWaiter(sched::CopyDirection d, int32_t slot);

  uint64_t completed_seq(sched::CopyDirection d) const { return dirs_[Dir(d)].completed; }
  uint64_t issued_seq(sched::CopyDirection d) const { return dirs_[Dir(d)].next - 1; }
  int32_t capacity() const { return capacity_; }

 private:
  static int Dir(sched::CopyDirection d) { return static_cast<int>(d); }
  int32_t SlotOf(uint64_t seq) const { return static_cast<int32_t>((seq - 1) % capacity_); }

  struct PerDirection {
    uint64_t next = 1;       // seq of the next batch
    uint64_t completed = 0;  // every seq <= completed has landed
    std::vector<int32_t> waiters;
  };
  const int32_t capacity_;
  PerDirection dirs_[2];
};

}  // namespace fm::rt::cuda
