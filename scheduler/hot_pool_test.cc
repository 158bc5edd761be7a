#include "scheduler/hot_pool.h"

#include <gtest/gtest.h>

#include <random>

namespace fm::sched {
namespace {

TEST(HotPoolTest, UnreferencedHotSlotsEnterTheLruNewestFirst) {
  HotPool pool(4);
  for (int s = 0; s < 3; ++s) {
    pool.Claim(SlotId{s}, RequestId{1}, PageIndex{s}, SlotState::kFetching);
    pool.Ref(SlotId{s});
    pool.MarkFetched(SlotId{s});
  }
  pool.Unref(SlotId{1});
  pool.Unref(SlotId{0});
  pool.Unref(SlotId{2});
  EXPECT_EQ(pool.cached_count(), 3);
  EXPECT_EQ(pool.LruOldest(), SlotId{1});
  EXPECT_EQ(pool.LruNewer(SlotId{1}), SlotId{0});
  EXPECT_EQ(pool.LruNewer(SlotId{0}), SlotId{2});
  EXPECT_FALSE(pool.LruNewer(SlotId{2}).valid());
  pool.Ref(SlotId{0});  // a hit leaves the LRU and is Hot again
  EXPECT_EQ(pool.info(SlotId{0}).state, SlotState::kHot);
  EXPECT_EQ(pool.LruNewer(SlotId{1}), SlotId{2});
  pool.CheckConsistent();
}

TEST(HotPoolTest, DirtyTailPagesGoThroughWritingBackToHotOrCached) {
  HotPool pool(2);
  pool.Claim(SlotId{0}, RequestId{1}, PageIndex{7}, SlotState::kDirty);
  pool.Ref(SlotId{0});
  pool.StartWriteback(SlotId{0});
  pool.FinishWriteback(SlotId{0});
  EXPECT_EQ(pool.info(SlotId{0}).state, SlotState::kHot);
  pool.Claim(SlotId{1}, RequestId{1}, PageIndex{8}, SlotState::kDirty);
  pool.StartWriteback(SlotId{1});
  pool.FinishWriteback(SlotId{1});
  EXPECT_EQ(pool.info(SlotId{1}).state, SlotState::kCached);
  EXPECT_EQ(pool.LruOldest(), SlotId{1});
  pool.CheckConsistent();
}

TEST(HotPoolDeathTest, HotSlotIsNeverAVictim) {
  HotPool pool(1);
  pool.Claim(SlotId{0}, RequestId{1}, PageIndex{0}, SlotState::kFetching);
  pool.Ref(SlotId{0});
  pool.MarkFetched(SlotId{0});
  EXPECT_DEATH(pool.Claim(SlotId{0}, RequestId{2}, PageIndex{0}, SlotState::kFetching),
               "victims come only from Free and Cached");
}

// Property: random legal operations keep the free set, LRU links and counts consistent.
TEST(HotPoolTest, RandomOperationsKeepTheStructureConsistent) {
  std::mt19937_64 rng(11);
  HotPool pool(16);
  for (int iter = 0; iter < 20000; ++iter) {
    const SlotId s{static_cast<int32_t>(rng() % 16)};
    const SlotInfo& i = pool.info(s);
    switch (rng() % 6) {
      case 0:
        if (i.state == SlotState::kFree || i.state == SlotState::kCached) {
          pool.Claim(s, RequestId{1}, PageIndex{s.v},
                     rng() % 2 ? SlotState::kFetching : SlotState::kDirty);
        }
        break;
      case 1:
        if (i.state != SlotState::kFree && i.refs < 2) pool.Ref(s);
        break;
      case 2:
        if (i.refs > 0) pool.Unref(s);
        break;
      case 3:
        if (i.state == SlotState::kFetching && i.refs > 0) pool.MarkFetched(s);
        break;
      case 4:
        if (i.state == SlotState::kDirty)
          pool.StartWriteback(s);
        else if (i.state == SlotState::kWritingBack)
          pool.FinishWriteback(s);
        break;
      case 5:
        if (i.state != SlotState::kFree && i.refs == 0) pool.Release(s);
        break;
    }
    pool.CheckConsistent();
  }
}

}  // namespace
}  // namespace fm::sched
