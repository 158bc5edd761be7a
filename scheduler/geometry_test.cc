#include "scheduler/geometry.h"

#include <gtest/gtest.h>

namespace fm::sched {
namespace {

TEST(GeometryTest, FlashDefaultsGiveSlotOf784896Bytes) {
  GeometryConfig g;
  ASSERT_TRUE(g.Validate().ok());
  EXPECT_EQ(g.kv_block_bytes(), 37'376);
  EXPECT_EQ(g.index_key_block_bytes(), 8'448);
  EXPECT_EQ(g.slot_bytes(), 784'896);
  EXPECT_EQ(g.tokens_per_page(), 256);
}

TEST(GeometryTest, PathISlotCarries18IndexKeyBlocks) {
  GeometryConfig g;
  g.paged_index_key_layers = 18;
  EXPECT_EQ(g.slot_bytes(), 936'960);
}

TEST(GeometryTest, ConversionsRoundTripBetweenChunksPagesAndCells) {
  GeometryConfig g;
  EXPECT_EQ(PageOf(ChunkIndex{0}, g), PageIndex{0});
  EXPECT_EQ(PageOf(ChunkIndex{63}, g), PageIndex{0});
  EXPECT_EQ(PageOf(ChunkIndex{64}, g), PageIndex{1});
  EXPECT_EQ(FirstChunkOf(PageIndex{3}, g), ChunkIndex{192});
  EXPECT_EQ(OffsetInPage(ChunkIndex{130}, g), 2);
  EXPECT_EQ(CellOf(SlotId{5}, ChunkIndex{130}, g), CellIndex{5 * 64 + 2});
  // The reference's LAST_KEEP = 2048 "tokens" is 2048 chunks = 8192 tokens = 32 pages.
  EXPECT_EQ(ChunksForTokens(8192, g), 2048);
  EXPECT_EQ(PagesForChunks(2048, g), 32);
  EXPECT_EQ(PagesForChunks(2049, g), 33);
  EXPECT_EQ(PagesForTokens(1 << 20, g), 4096);
  EXPECT_EQ(SlotOffsetBytes(SlotId{2}, g), 2 * 784'896);
  EXPECT_EQ(ColdOffsetBytes(ColdPageId{3}, g), 3 * 784'896);
}

TEST(GeometryTest, ValidateNamesTheBadField) {
  GeometryConfig g;
  g.chunks_per_page = 0;
  absl::Status s = g.Validate();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("chunks_per_page: 0"), std::string::npos) << s;
  g = GeometryConfig{};
  g.chunks_per_page = 256;  // density is one byte per page
  EXPECT_EQ(g.Validate().code(), absl::StatusCode::kInvalidArgument);
  g = GeometryConfig{};
  g.paged_index_key_layers = -1;
  EXPECT_EQ(g.Validate().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fm::sched
