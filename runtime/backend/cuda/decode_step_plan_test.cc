// The decode step's device layout and stream ordering (decode_step_plan.h), checked on the CPU.

#include "runtime/backend/cuda/decode_step_plan.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/backend.h"
#include "runtime/weights/synth.h"

namespace fm::rt::cuda {
namespace {

ModelConfig Tiny() {
  SynthOptions o;
  o.preset = "tiny";
  auto c = SynthConfig(o);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(DecodeStepPlan, RegionsAreAlignedDisjointAndInsideTheArena) {
  const ModelConfig c = Tiny();
  auto p = PlanDecodeStep(c, {.batch = 3,
                              .max_context = 512,
                              .fp8_kv = true,
                              .weight_bytes = 1000,
                              .topk_workspace_bytes = 4096});
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_FALSE(p->regions.empty());
  for (size_t i = 0; i < p->regions.size(); ++i) {
    const DecodeRegion& r = p->regions[i];
    EXPECT_EQ(r.offset % kDecodeAlign, 0) << r.name;
    EXPECT_LE(r.offset + r.bytes, p->total_bytes) << r.name;
    if (i > 0) {
      const DecodeRegion& prev = p->regions[i - 1];
      EXPECT_GE(r.offset, prev.offset + std::max<int64_t>(prev.bytes, 1))
          << r.name << " overlaps " << prev.name;
    }
  }
  EXPECT_EQ(p->total_bytes % kDecodeAlign, 0);
  EXPECT_EQ(p->regions.back().name, "weights");
  EXPECT_EQ(p->regions.back().bytes, 1000);
}

TEST(DecodeStepPlan, SizesFollowTheConfig) {
  const ModelConfig c = Tiny();
  const int64_t B = 2, ctx = 1024;
  auto p = PlanDecodeStep(c, {.batch = B, .max_context = ctx, .fp8_kv = true});
  ASSERT_TRUE(p.ok()) << p.status();
  const int64_t entry = kernels::KvEntryBytes(c.nope_head_dim(), c.qk_rope_head_dim);
  EXPECT_EQ(p->kv_entry_bytes, entry);
  EXPECT_EQ(p->index_entry_bytes, kernels::IndexKeyBytes(c.index_head_dim));
  EXPECT_EQ(p->n_pages, (ctx / 4 + kChunksPerPage - 1) / kChunksPerPage);
  ASSERT_EQ(static_cast<int64_t>(p->layers.size()), c.num_hidden_layers);
  int32_t csa = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const DecodeLayerRegions& r = p->layers[static_cast<size_t>(l)];
    EXPECT_EQ(r.ratio, c.compress_ratio(l));
    EXPECT_EQ(r.csa, c.is_csa(l));
    EXPECT_EQ(r.csa_ordinal, c.is_csa(l) ? csa++ : -1);
    EXPECT_GE(r.window, 0);
    EXPECT_EQ(r.compressed >= 0, r.ratio > 0);
    EXPECT_EQ(r.index_keys >= 0, r.csa);
    if (r.ratio > 0) {
      EXPECT_EQ(r.comp_capacity, ctx / r.ratio);
    }
  }
  EXPECT_EQ(p->n_csa, csa);
  auto bytes_of = [&](const std::string& name) {
    for (const DecodeRegion& r : p->regions) {
      if (r.name == name) return r.bytes;
    }
    ADD_FAILURE() << "no region " << name;
    return int64_t{-1};
  };
  EXPECT_EQ(bytes_of("lut"), B * p->n_pages * 4);
  EXPECT_EQ(bytes_of("layer1.window"), B * c.sliding_window * entry);
  EXPECT_EQ(bytes_of("layer1.compressed"), B * (ctx / 4) * entry);
  EXPECT_EQ(bytes_of("x"), B * c.hc_mult * c.hidden_size * 4);
  EXPECT_EQ(bytes_of("logits"), B * c.vocab_size * 4);
  // Sources: the window plus the larger of the CSA top-k and the HCA entries (ratio 16 here).
  EXPECT_EQ(p->max_sources, c.sliding_window + std::max<int64_t>(c.index_topk, ctx / 16));
  // fp32 entries double as the parity format.
  auto f32 = PlanDecodeStep(c, {.batch = B, .max_context = ctx, .fp8_kv = false});
  ASSERT_TRUE(f32.ok());
  EXPECT_EQ(f32->kv_entry_bytes, 4 * c.head_dim);
}

TEST(DecodeStepPlan, RejectsBadShapesNamingTheField) {
  const ModelConfig c = Tiny();
  auto bad_batch = PlanDecodeStep(c, {.batch = 0, .max_context = 512});
  ASSERT_FALSE(bad_batch.ok());
  EXPECT_NE(bad_batch.status().message().find("batch=0"), std::string::npos);
  auto ragged = PlanDecodeStep(c, {.batch = 1, .max_context = 520});  // not a multiple of 16
  ASSERT_FALSE(ragged.ok());
  EXPECT_NE(ragged.status().message().find("max_context=520"), std::string::npos);
  auto too_long = PlanDecodeStep(c, {.batch = 1, .max_context = 4096});
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.status().message().find("max_position_embeddings"), std::string::npos);
}

TEST(DecodeStepOrder, EveryCombinationSatisfiesTheProtocol) {
  for (int bits = 0; bits < 8; ++bits) {
    const DecodeStepEvents ev{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0};
    const auto records = PlanStepOrder(ev);
    EXPECT_TRUE(CheckStepOrder(records).ok()) << bits << ": " << CheckStepOrder(records);
    auto count = [&](DecodeStreamOp op) {
      return std::count_if(records.begin(), records.end(),
                           [op](const DecodeOrderRecord& r) { return r.op == op; });
    };
    EXPECT_EQ(count(DecodeStreamOp::kLaunchStep), 1);
    EXPECT_EQ(count(DecodeStreamOp::kStagePages), ev.stage ? 1 : 0);
    EXPECT_EQ(count(DecodeStreamOp::kPublishLut), ev.publish ? 1 : 0);
    EXPECT_EQ(count(DecodeStreamOp::kOffloadTail), ev.offload ? 1 : 0);
    // The publish precedes the launch on the compute stream, so the step reads the new table.
    const auto pos = [&](DecodeStreamOp op) {
      return std::find_if(records.begin(), records.end(),
                          [op](const DecodeOrderRecord& r) { return r.op == op; }) -
             records.begin();
    };
    if (ev.publish) {
      EXPECT_LT(pos(DecodeStreamOp::kPublishLut), pos(DecodeStreamOp::kLaunchStep));
    }
    for (const DecodeOrderRecord& r : records) {
      if (r.op == DecodeStreamOp::kPublishLut || r.op == DecodeStreamOp::kLaunchStep) {
        EXPECT_EQ(r.stream, DecodeStream::kCompute);
      }
    }
  }
  // Stage and publish in the same step: the publish waits on this step's copy record.
  const auto both = PlanStepOrder({true, true, false});
  const auto wait = std::find_if(both.begin(), both.end(), [](const DecodeOrderRecord& r) {
    return r.stream == DecodeStream::kCompute && r.op == DecodeStreamOp::kWaitEvent;
  });
  ASSERT_NE(wait, both.end());
  ASSERT_GE(wait->waits_on, 0);
  EXPECT_EQ(both[static_cast<size_t>(wait->waits_on)].op, DecodeStreamOp::kRecordCopy);
}

TEST(DecodeStepOrder, CheckerRejectsBrokenOrders) {
  using S = DecodeStream;
  using O = DecodeStreamOp;
  // A publish without a copy wait.
  EXPECT_FALSE(CheckStepOrder({{S::kCompute, O::kPublishLut}, {S::kCompute, O::kLaunchStep}}).ok());
  // A publish waiting on the step event instead of the copy.
  EXPECT_FALSE(CheckStepOrder({{S::kCompute, O::kLaunchStep},
                               {S::kCompute, O::kRecordStep},
                               {S::kD2h, O::kWaitEvent, 1},
                               {S::kCompute, O::kWaitEvent, 1},
                               {S::kCompute, O::kPublishLut}})
                   .ok());
  // Staging into slots without waiting for the previous flip.
  EXPECT_FALSE(CheckStepOrder({{S::kH2d, O::kStagePages}, {S::kH2d, O::kRecordCopy}}).ok());
  // Offloading before the step's event.
  EXPECT_FALSE(CheckStepOrder({{S::kCompute, O::kLaunchStep}, {S::kD2h, O::kOffloadTail}}).ok());
  // A wait on a later record, and a wait on an op that records nothing.
  EXPECT_FALSE(CheckStepOrder({{S::kCompute, O::kWaitEvent, 1}, {S::kH2d, O::kRecordCopy}}).ok());
  EXPECT_FALSE(CheckStepOrder({{S::kH2d, O::kStagePages}, {S::kCompute, O::kWaitEvent, 0}}).ok());
  // A wait separated from its publish by another op no longer guards it.
  EXPECT_FALSE(CheckStepOrder({{S::kH2d, O::kRecordCopy},
                               {S::kCompute, O::kWaitEvent, 0},
                               {S::kCompute, O::kLaunchStep},
                               {S::kCompute, O::kPublishLut}})
                   .ok());
}

}  // namespace
}  // namespace fm::rt::cuda
