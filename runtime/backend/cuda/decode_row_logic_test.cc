// The GPU decode kernels' per-row logic (decode_row_logic.h) on the CPU, against the CPU forward's
// rules: the compressor ring (runtime/model/compressor.cc), Level-2 selection under a resident set
// (runtime/model/attention.cc) and the FP8 KV codec (kernels/fp8_entry_codecs.h).

#include "runtime/backend/cuda/decode_row_logic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <set>
#include <vector>

#include "kernels/cpu/cpu_backend.h"

namespace fm::rt::cuda {
namespace {

// A ring of coff * ratio token slots filled token by token: every completed chunk's pooling slots
// must name the tokens the CPU compressor pools (previous chunk first for coff 2, masked for
// chunk 0), still present in the ring.
TEST(DecodeRowLogic, PoolSlotsNameTheTokensTheCpuCompressorPools) {
  for (const auto& [ratio, coff] : {std::pair<int64_t, int64_t>{4, 2}, {16, 1}, {128, 1}}) {
    const int64_t ring = coff * ratio, dim = 8;
    std::vector<int64_t> held(static_cast<size_t>(ring), -1);  // token in each ring slot
    for (int64_t pos = 0; pos < 10 * ratio; ++pos) {
      held[static_cast<size_t>(pos % ring)] = pos;
      if (!CompletesChunk(pos, ratio)) continue;
      const int64_t j = GatheredChunk(pos, ratio);
      EXPECT_EQ(j, (pos + 1) / ratio - 1);
      for (int64_t slot = 0; slot < coff * ratio; ++slot) {
        const PoolSlotSource s = PoolSlot(j, ratio, coff, dim, slot);
        const bool overlap = coff == 2 && slot < ratio;
        const int64_t want =
            overlap ? ratio * j - ratio + slot : ratio * j + slot - (coff - 1) * ratio;
        EXPECT_EQ(s.masked, want < 0) << ratio << " pos " << pos << " slot " << slot;
        if (want < 0) continue;
        EXPECT_EQ(held[static_cast<size_t>(s.ring_slot)], want) << ratio << " pos " << pos;
        EXPECT_EQ(s.column, overlap ? 0 : (coff - 1) * dim);
      }
    }
  }
}

TEST(DecodeRowLogic, NoChunkCompletedGathersAFiniteWindow) {
  // Positions that complete nothing still name valid ring slots (the result is never stored).
  for (int64_t pos = 0; pos < 3; ++pos) {
    EXPECT_FALSE(CompletesChunk(pos, 4));
    EXPECT_EQ(GatheredChunk(pos, 4), 0);
    for (int64_t slot = 0; slot < 8; ++slot) {
      const PoolSlotSource s = PoolSlot(0, 4, 2, 8, slot);
      EXPECT_GE(s.ring_slot, 0);
      EXPECT_LT(s.ring_slot, 8);
      EXPECT_EQ(s.masked, slot < 4);  // the current chunk's slots are never all masked
    }
  }
}

// Level 2 on the GPU: non-candidates at -inf, a top-k of k = min(index_topk, n) over the whole
// capacity, then the finite picks. The CPU: the candidates' top-min(topk, #candidates), or all of
// them when they fit. Same set, window first, for random positions, LUTs and scores.
TEST(DecodeRowLogic, MaskedTopKPicksTheCpuLevel2Set) {
  kernels::cpu::CpuBackend cpu(nullptr);
  std::mt19937 rng(3);
  const int64_t capacity = 512, per_page = 64, n_pages = capacity / per_page, window = 16;
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t pos = rng() % (4 * capacity);
    const int64_t topk = 1 + rng() % 40;
    const bool lsa = trial % 3 != 0;
    std::vector<int32_t> lut(static_cast<size_t>(n_pages));
    for (int32_t& s : lut) s = (rng() % 2 == 0) ? static_cast<int32_t>(rng() % 20) : -1;
    std::vector<float> scores(static_cast<size_t>(capacity));
    std::uniform_real_distribution<float> u(-5.0f, 5.0f);
    for (float& s : scores) s = u(rng);
    // CPU rule.
    std::vector<int32_t> cand;
    for (int64_t j = 0; j < std::min<int64_t>((pos + 1) / 4, capacity); ++j) {
      if (!lsa || lut[static_cast<size_t>(j / per_page)] >= 0)
        cand.push_back(static_cast<int32_t>(j));
    }
    std::set<int32_t> want;
    if (static_cast<int64_t>(cand.size()) > topk) {
      std::vector<int32_t> order = cand;
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return scores[static_cast<size_t>(a)] > scores[static_cast<size_t>(b)];
      });
      want.insert(order.begin(), order.begin() + topk);
    } else {
      want.insert(cand.begin(), cand.end());
    }
    // GPU rule.
    std::vector<float> masked = scores;
    for (int64_t j = 0; j < capacity; ++j) {
      if (!Level2Candidate(j, pos, 4, lsa, lut.data(), n_pages, per_page)) {
        masked[static_cast<size_t>(j)] = -std::numeric_limits<float>::infinity();
      }
    }
    const int64_t k = std::min(topk, capacity);
    std::vector<int32_t> selected(static_cast<size_t>(k));
    ASSERT_EQ(cpu.TopK({masked.data(), capacity, k, selected.data()}), kernels::OpStatus::kOk);
    std::vector<int32_t> sources(static_cast<size_t>(window + k));
    const int64_t n = BuildRowSources(pos, window, 4, selected.data(), k, masked.data(), capacity,
                                      window + k, sources.data());
    const int64_t lo = std::max<int64_t>(0, pos - window + 1);
    ASSERT_GE(n, pos - lo + 1);
    for (int64_t q = lo; q <= pos; ++q) EXPECT_EQ(sources[static_cast<size_t>(q - lo)], -(q + 1));
    const std::set<int32_t> got(sources.begin() + (pos - lo + 1), sources.begin() + n);
    EXPECT_EQ(got, want) << "trial " << trial << " pos " << pos << " topk " << topk;
    EXPECT_EQ(static_cast<size_t>(n - (pos - lo + 1)), want.size());
  }
}

TEST(DecodeRowLogic, HcaRowsAttendEveryCausalEntryAndSwaRowsOnlyTheWindow) {
  std::vector<int32_t> out(200);
  const int64_t n = BuildRowSources(300, 16, 16, nullptr, 0, nullptr, 0, 200, out.data());
  ASSERT_EQ(n, 16 + 301 / 16);
  for (int64_t j = 0; j < 301 / 16; ++j) EXPECT_EQ(out[static_cast<size_t>(16 + j)], j);
  EXPECT_EQ(BuildRowSources(5, 16, 0, nullptr, 0, nullptr, 0, 200, out.data()), 6);
  EXPECT_EQ(out[0], -1);  // position 0
  // The capacity bounds the list.
  EXPECT_EQ(BuildRowSources(300, 16, 16, nullptr, 0, nullptr, 0, 20, out.data()), 20);
}

TEST(DecodeRowLogic, ElementDecodeEqualsTheEntryCodecBitForBit) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (const auto& [nope, rope] : {std::pair<int64_t, int64_t>{448, 64}, {32, 16}, {100, 28}}) {
    const int64_t bytes = kernels::KvEntryBytes(nope, rope);
    std::vector<float> v(static_cast<size_t>(nope + rope)), want(v.size());
    std::vector<uint8_t> e(static_cast<size_t>(bytes));
    for (int rep = 0; rep < 20; ++rep) {
      for (float& x : v) x = nd(rng) * (rep % 4 == 0 ? 1e-3f : 1.0f);
      kernels::QuantizeKvEntry(v.data(), nope, rope, e.data());
      kernels::DequantizeKvEntry(e.data(), nope, rope, want.data());
      for (int64_t d = 0; d < nope + rope; ++d) {
        ASSERT_EQ(kernels::FloatToBits(DecodeKvElement(e.data(), nope, rope, d)),
                  kernels::FloatToBits(want[static_cast<size_t>(d)]))
            << nope << "+" << rope << " d " << d;
      }
    }
  }
}

TEST(DecodeRowLogic, PoolCellOffsetFollowsTheLut) {
  const std::vector<int32_t> lut = {-1, 3, 0};
  const int64_t slot = 10000, block = 640, entry = 72;
  EXPECT_EQ(PoolCellOffset(5, lut.data(), 3, 64, slot, block, entry), -1);
  EXPECT_EQ(PoolCellOffset(64 + 7, lut.data(), 3, 64, slot, block, entry),
            3 * slot + block + 7 * entry);
  EXPECT_EQ(PoolCellOffset(128, lut.data(), 3, 64, slot, block, entry), block);
  EXPECT_EQ(PoolCellOffset(192, lut.data(), 3, 64, slot, block, entry), -1);  // beyond the table
}

TEST(DecodeRowLogic, ExpertOutputsAreSummedInTheCpuMoeOrder) {
  // The CPU groups (token, slot) pairs by expert, experts ascending, pairs ascending inside one.
  const std::vector<int32_t> experts = {7, 2, 5, 2, 0, 9};
  std::vector<int32_t> order(experts.size());
  ExpertSumOrder(experts.data(), static_cast<int64_t>(experts.size()), order.data());
  EXPECT_EQ(order, (std::vector<int32_t>{4, 1, 3, 2, 0, 5}));
  std::mt19937 rng(9);
  for (int trial = 0; trial < 100; ++trial) {
    const int64_t k = 1 + rng() % 16;
    std::vector<int32_t> e(static_cast<size_t>(k)), o(static_cast<size_t>(k));
    for (int32_t& x : e) x = static_cast<int32_t>(rng() % 8);
    ExpertSumOrder(e.data(), k, o.data());
    std::vector<int32_t> want(static_cast<size_t>(k));
    for (int64_t i = 0; i < k; ++i) want[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    std::stable_sort(want.begin(), want.end(), [&](int32_t a, int32_t b) {
      return e[static_cast<size_t>(a)] < e[static_cast<size_t>(b)];
    });
    EXPECT_EQ(o, want);
  }
}

}  // namespace
}  // namespace fm::rt::cuda
