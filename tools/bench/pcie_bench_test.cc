// The CPU-side parts of `flashmem bench pcie`: the scattered page plan it times, and the skip
// reason of a build without CUDA (this test compiles pcie_bench.cc without FM_WITH_CUDA).

#include "tools/bench/pcie_bench.h"

#include <gtest/gtest.h>

#include <set>

#include "scheduler/geometry.h"

namespace fm::bench {
namespace {

TEST(ScatteredPagePlan, MovesKDistinctSlotSizedPagesInsideBothPools) {
  const int64_t slot = sched::GeometryConfig{}.slot_bytes();
  for (int64_t k : {1, 16, 64, 384}) {
    const auto ranges = ScatteredPagePlan(1024, 512, k, slot, 42);
    int64_t pages = 0;
    std::set<int64_t> src_pages, dst_slots;
    for (const sched::CopyRange& r : ranges) {
      ASSERT_GT(r.bytes, 0);
      ASSERT_EQ(r.bytes % slot, 0);
      ASSERT_EQ(r.src_offset_bytes % slot, 0);
      ASSERT_EQ(r.dst_offset_bytes % slot, 0);
      for (int64_t i = 0; i < r.bytes / slot; ++i) {
        src_pages.insert(r.src_offset_bytes / slot + i);
        dst_slots.insert(r.dst_offset_bytes / slot + i);
      }
      pages += r.bytes / slot;
      ASSERT_LE(r.src_offset_bytes + r.bytes, 1024 * slot);
      ASSERT_LE(r.dst_offset_bytes + r.bytes, 512 * slot);
    }
    EXPECT_EQ(pages, k);
    EXPECT_EQ(static_cast<int64_t>(src_pages.size()), k);  // no page twice
    EXPECT_EQ(static_cast<int64_t>(dst_slots.size()), k);  // no slot twice
    EXPECT_TRUE(src_pages.count(1023));                    // the recent tail is always fetched
    // Scattered: slots come from a shuffled free list, so most pages stay separate descriptors.
    if (k >= 64) {
      EXPECT_GT(static_cast<int64_t>(ranges.size()), k / 2);
    }
  }
}

TEST(ScatteredPagePlan, IsDeterministicForASeed) {
  EXPECT_EQ(ScatteredPagePlan(256, 128, 32, 4096, 7), ScatteredPagePlan(256, 128, 32, 4096, 7));
  EXPECT_NE(ScatteredPagePlan(256, 128, 32, 4096, 7), ScatteredPagePlan(256, 128, 32, 4096, 8));
}

TEST(PcieSkipReason, ABuildWithoutCudaSaysSo) {
  EXPECT_NE(PcieSkipReason().find("without CUDA"), std::string::npos);
}

}  // namespace
}  // namespace fm::bench
