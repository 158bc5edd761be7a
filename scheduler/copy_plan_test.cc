#include "scheduler/copy_plan.h"

#include <gtest/gtest.h>

namespace fm::sched {
namespace {

constexpr int64_t kSlot = 100;

TEST(CopyPlanTest, AdjacentInBothPoolsCoalesceIntoOneRange) {
  std::vector<CopyRange> out;
  CoalescePageMoves({{0, 500}, {100, 600}, {200, 700}, {400, 800}, {500, 1000}}, kSlot, &out);
  EXPECT_EQ(out, (std::vector<CopyRange>{{0, 500, 300}, {400, 800, 100}, {500, 1000, 100}}));
}

TEST(CopyPlanTest, NeverMergesIntoRangesAlreadyInTheOutput) {
  std::vector<CopyRange> out = {{0, 0, 100}};
  CoalescePageMoves({{100, 100}}, kSlot, &out);
  EXPECT_EQ(out.size(), 2u);
}

TEST(CopyPlanTest, QueueHandsOutWholeSlotsWithinTheBudget) {
  CopyQueue q;
  q.Push({0, 0, 500});
  q.Push({1000, 2000, 200});
  std::vector<CopyRange> out;
  EXPECT_EQ(q.Take(250, kSlot, true, &out), 200);  // 250 rounds down to two slots
  EXPECT_EQ(out, (std::vector<CopyRange>{{0, 0, 200}}));
  out.clear();
  EXPECT_EQ(q.Take(400, kSlot, true, &out), 400);
  EXPECT_EQ(out, (std::vector<CopyRange>{{200, 200, 300}, {1000, 2000, 100}}));
  EXPECT_EQ(q.pending_bytes(), 100);
  out.clear();
  EXPECT_EQ(q.Take(1000, kSlot, true, &out), 100);
  EXPECT_TRUE(q.empty());
}

TEST(CopyQueueTest, BudgetBelowOneSlotStillMakesProgressWhenAsked) {
  CopyQueue q;
  q.Push({0, 0, 300});
  std::vector<CopyRange> out;
  EXPECT_EQ(q.Take(10, kSlot, false, &out), 0);
  EXPECT_EQ(q.Take(10, kSlot, true, &out), 100);
  EXPECT_EQ(q.pending_bytes(), 200);
}

}  // namespace
}  // namespace fm::sched
