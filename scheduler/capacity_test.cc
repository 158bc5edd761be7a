#include "scheduler/capacity.h"

#include <gtest/gtest.h>

namespace fm::sched {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

TEST(CapacityTest, FlashSteadyStateIs3850Point25BytesPerToken) {
  CapacityConfig c;
  ASSERT_TRUE(c.Validate().ok());
  const BytesPerToken b = ComputeBytesPerToken(c);
  EXPECT_DOUBLE_EQ(b.c4_kv, 3066.0);
  EXPECT_DOUBLE_EQ(b.c4_index_keys_target, 99.0);
  EXPECT_DOUBLE_EQ(b.c4_index_keys_other, 594.0);
  EXPECT_DOUBLE_EQ(b.c128_kv, 91.25);
  EXPECT_DOUBLE_EQ(b.total(), 3850.25);
}

TEST(CapacityTest, SglangAdmissionBudgetMatchesSpecFormula) {
  CapacityConfig c;
  c.online_c128 = false;  // SGLang's ring c128 states
  EXPECT_NEAR(SglangAdmissionBytesPerToken(c, 0.1), 15'955.85, 1e-6);
  EXPECT_NEAR(SglangAdmissionBytesPerToken(c, 1.0), 3850.25 + 121'056.0, 1e-6);
  EXPECT_NEAR(SglangAdmissionBytesPerToken(c, 0.0), 3850.25, 1e-9);
  // 7.79 GiB at 512K tokens, 0.974 GiB at 64K (spec §3.3).
  EXPECT_NEAR(SglangAdmissionBytesPerToken(c, 0.1) * 524'288 / kGiB, 7.79, 0.005);
  EXPECT_NEAR(SglangAdmissionBytesPerToken(c, 0.1) * 65'536 / kGiB, 0.974, 0.001);
  c.online_c128 = true;
  EXPECT_NEAR(SglangAdmissionBytesPerToken(c, 0.1), 7'859.85, 1e-6);
}

TEST(CapacityTest, PerRequestFixedBytesIsSwaPlusOnlineStates) {
  CapacityConfig c;
  // 44 x 128 x 584 SWA + 21 x 64 KiB c4 + 21 x 16 KiB indexer + 20 x 6 KiB online c128.
  EXPECT_EQ(PerRequestFixedBytes(c), 3'289'088 + 1'376'256 + 344'064 + 122'880);
  EXPECT_NEAR(PerRequestFixedBytes(c) / 1e6, 5.1, 0.05);
}

TEST(CapacityTest, OneMillionTokenWorkedExampleOfDesign23) {
  CapacityConfig c;
  const int64_t L = int64_t{1} << 20;
  const RequestGpuBytes all = GpuBytesAllResident(c, L);
  EXPECT_NEAR(all.length_dependent_bytes / kGiB, 3.76, 0.005);
  const RequestGpuBytes lsa = GpuBytesWithLsa(c, L, 384, IndexKeyPlacement::kGpuFull);
  EXPECT_EQ(lsa.length_dependent_bytes, static_cast<int64_t>(784.25 * L));
  EXPECT_NEAR(lsa.length_dependent_bytes / kGiB, 0.766, 0.0005);
  EXPECT_EQ(lsa.hot_slot_bytes, 386 * 784'896);
  EXPECT_NEAR(lsa.hot_slot_bytes / kGiB, 0.282, 0.0005);
  EXPECT_NEAR(lsa.cold_bytes / kGiB, 2.99, 0.005);
  const RequestGpuBytes path_i = GpuBytesWithLsa(c, L, 384, IndexKeyPlacement::kPaged);
  EXPECT_EQ(path_i.length_dependent_bytes, static_cast<int64_t>(190.25 * L));
  EXPECT_NEAR(path_i.hot_slot_bytes / kGiB, 0.337, 0.0005);
  EXPECT_NEAR((path_i.cold_bytes - lsa.cold_bytes) / kGiB, 0.58, 0.005);
  // Full re-fetch of 384 pages at 50 GB/s: 6.0 ms and 7.2 ms.
  EXPECT_NEAR(TransferNs(384 * GeometryConfig{}.slot_bytes(), 50.0) / 1e6, 6.0, 0.05);
  GeometryConfig gi;
  gi.paged_index_key_layers = 18;
  EXPECT_NEAR(TransferNs(384 * gi.slot_bytes(), 50.0) / 1e6, 7.2, 0.05);
}

TEST(CapacityTest, SlotSizingRuleAddsTailPagesAndHeadroom) {
  absl::StatusOr<int64_t> n = SlotsNeeded({96, 192, 384}, 0.25);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 848);  // (98 + 194 + 386) x 1.25 = 847.5, rounded up
}

TEST(CapacityTest, SlotSizingRejectsNegativeInputs) {
  EXPECT_EQ(SlotsNeeded({96}, -0.1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SlotsNeeded({-1}, 0.25).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*SlotsNeeded({}, 0.25), 0);
  EXPECT_EQ(*SlotsNeeded({2}, 0.0), 4);
}

}  // namespace
}  // namespace fm::sched
