// TicketLedger: FIFO completion per direction, slot reuse only after completion and without
// waiters, never-issued tickets.

#include "runtime/backend/cuda/ticket_ledger.h"

#include <gtest/gtest.h>

namespace fm::rt::cuda {
namespace {

using sched::CopyDirection;
using sched::CopyTicket;
constexpr CopyDirection kH2d = CopyDirection::kHostToDevice;
constexpr CopyDirection kD2h = CopyDirection::kDeviceToHost;

CopyTicket IssueOne(TicketLedger& l, CopyDirection d) {
  absl::StatusOr<TicketLedger::Reservation> r = l.Reserve(d);
  EXPECT_TRUE(r.ok()) << r.status();
  return l.Issue(d, *r);
}

TEST(TicketLedger, SeqStartsAtOneAndDirectionsAreIndependent) {
  TicketLedger l(4);
  const CopyTicket a = IssueOne(l, kH2d), b = IssueOne(l, kH2d), c = IssueOne(l, kD2h);
  EXPECT_EQ(a.seq, 1u);
  EXPECT_EQ(b.seq, 2u);
  EXPECT_EQ(c.seq, 1u);
  EXPECT_EQ(c.direction, kD2h);
  EXPECT_EQ(l.Find(a).state, TicketLedger::State::kPending);
  EXPECT_EQ(l.Find(a).slot, 0);
  EXPECT_EQ(l.Find(b).slot, 1);
  EXPECT_EQ(l.Find(c).slot, 0);
}

TEST(TicketLedger, NeverIssuedTicketsAreRecognised) {
  TicketLedger l(4);
  EXPECT_EQ(l.Find(CopyTicket{}).state, TicketLedger::State::kNeverIssued);
  EXPECT_EQ(l.Find(CopyTicket{kH2d, 1}).state, TicketLedger::State::kNeverIssued);
  IssueOne(l, kH2d);
  EXPECT_EQ(l.Find(CopyTicket{kH2d, 2}).state, TicketLedger::State::kNeverIssued);
  EXPECT_EQ(l.Find(CopyTicket{kD2h, 1}).state, TicketLedger::State::kNeverIssued);
  l.MarkDone(CopyTicket{kH2d, 9});  // ignored: not issued
  EXPECT_EQ(l.completed_seq(kH2d), 0u);
}

TEST(TicketLedger, CompletionOfOneBatchRetiresEveryEarlierOneOfItsDirection) {
  TicketLedger l(8);
  CopyTicket t[5];
  for (CopyTicket& x : t) x = IssueOne(l, kH2d);
  const CopyTicket d = IssueOne(l, kD2h);
  l.MarkDone(t[3]);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(l.Find(t[i]).state, TicketLedger::State::kDone) << i;
  EXPECT_EQ(l.Find(t[4]).state, TicketLedger::State::kPending);
  EXPECT_EQ(l.Find(d).state, TicketLedger::State::kPending);
  l.MarkDone(t[1]);  // older news changes nothing
  EXPECT_EQ(l.completed_seq(kH2d), 4u);
  CopyTicket oldest;
  ASSERT_TRUE(l.OldestPending(kH2d, &oldest));
  EXPECT_EQ(oldest.seq, 5u);
  l.MarkDone(t[4]);
  EXPECT_FALSE(l.OldestPending(kH2d, &oldest));
}

TEST(TicketLedger, FullRingIsResourceExhaustedUntilTheOldestLands) {
  TicketLedger l(3);
  const CopyTicket a = IssueOne(l, kH2d);
  IssueOne(l, kH2d);
  IssueOne(l, kH2d);
  absl::StatusOr<TicketLedger::Reservation> r = l.Reserve(kH2d);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("max_pending_batches 3"), std::string::npos);
  EXPECT_TRUE(l.Reserve(kD2h).ok());  // the other direction has its own ring
  l.MarkDone(a);
  r = l.Reserve(kH2d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->seq, 4u);
  EXPECT_EQ(r->slot, 0);  // seq 4 reuses the slot of seq 1
}

TEST(TicketLedger, ASlotWithABlockedWaiterIsNotReused) {
  TicketLedger l(2);
  const CopyTicket a = IssueOne(l, kH2d);
  IssueOne(l, kH2d);
  const int32_t slot = l.Find(a).slot;
  l.AddWaiter(kH2d, slot);
  l.MarkDone(a);  // a landed, but a host thread is still inside its event wait
  EXPECT_EQ(l.Reserve(kH2d).status().code(), absl::StatusCode::kResourceExhausted);
  l.RemoveWaiter(kH2d, slot);
  EXPECT_TRUE(l.Reserve(kH2d).ok());
}

TEST(TicketLedger, LongRunKeepsSlotsInSeqOrder) {
  TicketLedger l(5);
  for (uint64_t i = 1; i <= 1000; ++i) {
    const CopyTicket t = IssueOne(l, kD2h);
    EXPECT_EQ(t.seq, i);
    EXPECT_EQ(l.Find(t).slot, static_cast<int32_t>((i - 1) % 5));
    if (i % 3 == 0) l.MarkDone(t);  // completions arrive late and in bursts
    if (i % 3 != 0 && i > 3) l.MarkDone(CopyTicket{kD2h, i - 2});
  }
  EXPECT_EQ(l.issued_seq(kD2h), 1000u);
}

}  // namespace
}  // namespace fm::rt::cuda
