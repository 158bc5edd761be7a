// Host-side logic of the CUDA copy engine, on the CPU: range checks, splitting at chunk
// boundaries, descriptor arrays, path choice and the publish waits.

#include "runtime/backend/cuda/copy_batching.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "scheduler/copy_plan.h"
#include "scheduler/geometry.h"

namespace fm::rt::cuda {
namespace {

using sched::CopyDirection;
using sched::CopyRange;
using sched::CopyTicket;

TEST(ValidateRanges, AcceptsRangesInsideBothPools) {
  const std::vector<CopyRange> r = {{0, 0, 100}, {900, 412, 100}};
  EXPECT_TRUE(ValidateRanges(CopyDirection::kHostToDevice, r, 1000, 512, 16).ok());
}

TEST(ValidateRanges, RejectsEmptyNegativeAndOutOfBoundsNamingTheRange) {
  auto check = [](std::vector<CopyRange> r, const char* want) {
    absl::Status s = ValidateRanges(CopyDirection::kDeviceToHost, r, 1000, 512, 16);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << want;
    EXPECT_NE(s.message().find(want), std::string::npos) << s.message();
  };
  check({}, "0 ranges");
  check({{0, 0, 10}, {0, 0, 0}}, "range 1");
  check({{-1, 0, 10}}, "range 0");
  check({{0, -5, 10}}, "range 0");
  check({{901, 0, 100}}, "src pool 1000 B");
  check({{0, 413, 100}}, "dst pool 512 B");
  // An offset near INT64_MAX must not wrap around into "inside".
  check({{INT64_MAX - 5, 0, 10}}, "range 0");
  EXPECT_EQ(ValidateRanges(CopyDirection::kDeviceToHost, std::vector<CopyRange>(17, {0, 0, 1}),
                           1000, 512, 16)
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SplitRanges, CutsAtBothPoolsChunkBoundariesAndThePieceLimit) {
  std::vector<CopyRange> out;
  // src chunks of 100, dst chunks of 64, pieces of at most 50.
  SplitRanges(std::vector<CopyRange>{{90, 10, 130}}, 100, 64, 50, &out);
  const std::vector<CopyRange> want = {
      {90, 10, 10},    // src chunk 0 ends at 100
      {100, 20, 44},   // dst chunk 0 ends at 64
      {144, 64, 50},   // piece limit
      {194, 114, 6},   // src chunk 1 ends at 200
      {200, 120, 8},   // dst chunk 1 ends at 128
      {208, 128, 12},  // rest
  };
  EXPECT_EQ(out, want);
}

TEST(SplitRanges, KeepsEveryByteExactlyOnceOnRandomRanges) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t src_chunk = 1 + static_cast<int64_t>(rng() % 300);
    const int64_t dst_chunk = 1 + static_cast<int64_t>(rng() % 300);
    const int64_t piece = 1 + static_cast<int64_t>(rng() % 500);
    std::vector<CopyRange> in;
    for (int i = 0; i < 5; ++i) {
      in.push_back({static_cast<int64_t>(rng() % 5000), static_cast<int64_t>(rng() % 5000),
                    1 + static_cast<int64_t>(rng() % 1000)});
    }
    std::vector<CopyRange> out;
    SplitRanges(in, src_chunk, dst_chunk, piece, &out);
    size_t j = 0;
    for (const CopyRange& r : in) {
      int64_t covered = 0;
      while (covered < r.bytes) {
        ASSERT_LT(j, out.size());
        const CopyRange& p = out[j++];
        EXPECT_EQ(p.src_offset_bytes, r.src_offset_bytes + covered);
        EXPECT_EQ(p.dst_offset_bytes, r.dst_offset_bytes + covered);
        EXPECT_LE(p.bytes, piece);
        EXPECT_EQ(p.src_offset_bytes / src_chunk, (p.src_offset_bytes + p.bytes - 1) / src_chunk);
        EXPECT_EQ(p.dst_offset_bytes / dst_chunk, (p.dst_offset_bytes + p.bytes - 1) / dst_chunk);
        covered += p.bytes;
      }
      EXPECT_EQ(covered, r.bytes);
    }
    EXPECT_EQ(j, out.size());
  }
}

TEST(ColdPoolChunkBytes, HoldsWholePagesAndAtLeastOne) {
  const sched::GeometryConfig g;
  const int64_t chunk = ColdPoolChunkBytes(g.slot_bytes(), int64_t{1} << 30);
  EXPECT_EQ(chunk % g.slot_bytes(), 0);
  EXPECT_LE(chunk, int64_t{1} << 30);
  EXPECT_GT(chunk + g.slot_bytes(), int64_t{1} << 30);
  EXPECT_EQ(ColdPoolChunkBytes(4096, 1000), 4096);
}

// A fake two-pool world in host memory: descriptors built through PoolAddressing and replayed with
// memcpy must move exactly the bytes the ranges name, also when the cold pool is chunked.
TEST(BuildDescriptors, ReplayedDescriptorsCopyScatteredPagesExactly) {
  const int64_t page = 256, n_cold = 37, n_hot = 11;
  const int64_t chunk = ColdPoolChunkBytes(page, 5 * page);  // 5 pages per chunk, 8 chunks
  std::vector<std::vector<std::byte>> cold_chunks;
  std::vector<std::byte*> cold_bases;
  for (int64_t off = 0; off < n_cold * page; off += chunk) {
    cold_chunks.emplace_back(static_cast<size_t>(std::min(chunk, n_cold * page - off)));
    cold_bases.push_back(cold_chunks.back().data());
  }
  std::vector<std::byte> hot(static_cast<size_t>(n_hot * page));
  std::byte* hot_base[1] = {hot.data()};
  const PoolAddressing cold_pool{n_cold * page, chunk, cold_bases};
  const PoolAddressing hot_pool{n_hot * page, n_hot * page, hot_base};
  ASSERT_TRUE(cold_pool.Validate("cold").ok());
  ASSERT_TRUE(hot_pool.Validate("hot").ok());
  std::mt19937 rng(3);
  for (int64_t i = 0; i < n_cold * page; ++i) {
    *cold_pool.Address(i) = static_cast<std::byte>(rng());
  }
  // Cold pages 3,4,5,6 (crossing the chunk boundary at 5) -> slots 0..3, then 20 -> 7, 36 -> 10.
  std::vector<sched::PageMove> moves = {{3 * page, 0},         {4 * page, page},
                                        {5 * page, 2 * page},  {6 * page, 3 * page},
                                        {20 * page, 7 * page}, {36 * page, 10 * page}};
  std::vector<CopyRange> ranges;
  sched::CoalescePageMoves(moves, page, &ranges);
  ASSERT_EQ(ranges.size(), 3u);  // one run of 4 pages, then two single pages
  std::vector<CopyRange> pieces;
  SplitRanges(ranges, cold_pool.chunk_bytes, hot_pool.chunk_bytes, kCePieceBytes, &pieces);
  EXPECT_EQ(pieces.size(), 4u);  // the 4-page run is cut at the cold chunk boundary
  CopyDescriptors desc;
  BuildDescriptors(pieces, cold_pool, hot_pool, &desc);
  ASSERT_EQ(desc.bytes.size(), pieces.size());
  for (size_t i = 0; i < desc.bytes.size(); ++i)
    std::memcpy(desc.dst[i], desc.src[i], desc.bytes[i]);
  for (const sched::PageMove& m : moves) {
    for (int64_t b = 0; b < page; ++b) {
      ASSERT_EQ(hot[static_cast<size_t>(m.dst_offset_bytes + b)],
                *cold_pool.Address(m.src_offset_bytes + b));
    }
  }
}

TEST(PoolAddressing, ValidateNamesThePoolAndTheProblem) {
  std::byte b;
  std::byte* bases[2] = {&b, nullptr};
  EXPECT_NE(PoolAddressing({100, 0, {}}).Validate("cold").message().find("cold pool"),
            std::string::npos);
  EXPECT_NE(PoolAddressing({100, 60, absl::MakeConstSpan(bases, 1)})
                .Validate("cold")
                .message()
                .find("expected 2"),
            std::string::npos);
  EXPECT_NE(PoolAddressing({100, 60, bases}).Validate("hot").message().find("chunk 1"),
            std::string::npos);
}

TEST(ChooseCopyPath, FollowsThePreferenceAndFallsBackWithoutTheBatchApi) {
  EXPECT_EQ(ChooseCopyPath(CopyPathPreference::kAuto, true), CopyPath::kCopyEngineBatch);
  EXPECT_EQ(ChooseCopyPath(CopyPathPreference::kAuto, false), CopyPath::kCopyEnginePerRange);
  EXPECT_EQ(ChooseCopyPath(CopyPathPreference::kCopyEngineBatch, false),
            CopyPath::kCopyEnginePerRange);
  EXPECT_EQ(ChooseCopyPath(CopyPathPreference::kCopyEnginePerRange, true),
            CopyPath::kCopyEnginePerRange);
  EXPECT_EQ(ChooseCopyPath(CopyPathPreference::kSmKernel, true), CopyPath::kSmKernel);
  EXPECT_EQ(MaxPieceBytes(CopyPath::kSmKernel), kSmPieceBytes);
  EXPECT_GT(MaxPieceBytes(CopyPath::kCopyEngineBatch), int64_t{1} << 32);
  EXPECT_STREQ(CopyPathName(CopyPath::kSmKernel), "sm_kernel");
}

TEST(PublishWaits, OneWaitPerDirectionOnTheLatestTicket) {
  const CopyTicket h1{CopyDirection::kHostToDevice, 1}, h5{CopyDirection::kHostToDevice, 5},
      d2{CopyDirection::kDeviceToHost, 2}, d3{CopyDirection::kDeviceToHost, 3}, none{};
  std::vector<CopyTicket> w = PublishWaits(std::vector<CopyTicket>{h1, d3, h5, none, d2});
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].direction, CopyDirection::kHostToDevice);
  EXPECT_EQ(w[0].seq, 5u);
  EXPECT_EQ(w[1].direction, CopyDirection::kDeviceToHost);
  EXPECT_EQ(w[1].seq, 3u);
  EXPECT_TRUE(PublishWaits(std::vector<CopyTicket>{none}).empty());
  w = PublishWaits(std::vector<CopyTicket>{h1});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].seq, 1u);
}

}  // namespace
}  // namespace fm::rt::cuda
