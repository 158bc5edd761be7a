#include "runtime/backend/cuda/decode_step_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/backend.h"
#include "kernels/weight_view.h"

namespace fm::rt::cuda {
namespace {

// Appends aligned regions in order; offsets never move once handed out.
class ArenaBuilder {
 public:
  explicit ArenaBuilder(std::vector<DecodeRegion>* regions) : regions_(regions) {}
  int64_t Add(std::string name, int64_t bytes) {
    const int64_t offset = end_;
    regions_->push_back({std::move(name), offset, bytes});
    end_ += AlignDecode(std::max<int64_t>(bytes, 1));  // empty regions still get a distinct address
    return offset;
  }
  int64_t end() const { return end_; }

 private:
  std::vector<DecodeRegion>* regions_;
  int64_t end_ = 0;
};

absl::Status Bad(const char* field, int64_t value, const std::string& expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("decode step plan: ", field, "=", value, ", expected ", expected));
}

}  // namespace

absl::StatusOr<DecodeStepPlan> PlanDecodeStep(const ModelConfig& c, const DecodeStepShape& shape) {
  if (shape.batch < 1) return Bad("batch", shape.batch, ">= 1");
  int64_t max_ratio = 4;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l)
    max_ratio = std::max(max_ratio, c.compress_ratio(l));
  if (shape.max_context < max_ratio || shape.max_context % max_ratio != 0) {
    return Bad("max_context", shape.max_context,
               absl::StrCat("a positive multiple of the largest compress ratio ", max_ratio));
  }
  if (c.max_position_embeddings > 0 && shape.max_context > c.max_position_embeddings) {
    return Bad("max_context", shape.max_context,
               absl::StrCat("<= config.json max_position_embeddings=", c.max_position_embeddings));
  }
  if (shape.weight_bytes < 0) return Bad("weight_bytes", shape.weight_bytes, ">= 0");
  if (shape.topk_workspace_bytes < 0) {
    return Bad("topk_workspace_bytes", shape.topk_workspace_bytes, ">= 0");
  }

  DecodeStepPlan p;
  p.shape = shape;
  const int64_t B = shape.batch, d = c.hidden_size, hc = c.hc_mult, H = c.num_attention_heads;
  const int64_t D = c.head_dim, W = c.sliding_window, HI = c.index_n_heads, DI = c.index_head_dim;
  const int64_t E = c.n_routed_experts, k = c.num_experts_per_tok, inter = c.moe_intermediate_size;
  const int64_t n_c4 = shape.max_context / 4;
  p.n_pages = (n_c4 + kChunksPerPage - 1) / kChunksPerPage;
  p.kv_entry_bytes =
      shape.fp8_kv ? kernels::KvEntryBytes(c.nope_head_dim(), c.qk_rope_head_dim) : 4 * D;
  p.index_entry_bytes = shape.fp8_kv ? kernels::IndexKeyBytes(DI) : 4 * DI;

  int64_t max_comp_entries = 0;  // compressed entries one query can attend (top-k or all HCA)
  p.max_comp_width = 0;
  p.max_comp_dim = 0;
  p.max_pool_slots = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const int64_t ratio = c.compress_ratio(l);
    if (ratio == 0) continue;
    const int64_t coff = ratio == 4 ? 2 : 1;
    p.max_comp_width = std::max(p.max_comp_width, coff * D);
    p.max_comp_dim = std::max(p.max_comp_dim, D);
    p.max_pool_slots = std::max(p.max_pool_slots, coff * ratio);
    if (c.is_csa(l)) {
      p.max_comp_width = std::max(p.max_comp_width, 2 * DI);
      p.max_comp_dim = std::max(p.max_comp_dim, DI);
      max_comp_entries = std::max(max_comp_entries, std::min(c.index_topk, n_c4));
    } else {
      max_comp_entries = std::max(max_comp_entries, shape.max_context / ratio);
    }
  }
  p.max_sources = W + max_comp_entries;

  ArenaBuilder arena(&p.regions);
  DecodeActivations& a = p.act;
  // Control buffers first: they are what a cycle change rewrites.
  a.tokens = arena.Add("tokens", B * 4);
  a.positions = arena.Add("positions", B * 8);
  a.row_valid = arena.Add("row_valid", B * 4);
  a.lsa_rows = arena.Add("lsa_rows", B * 4);
  a.lut = arena.Add("lut", B * p.n_pages * 4);
  a.resident_pages = arena.Add("resident_pages", B * 4);

  int32_t csa = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    DecodeLayerRegions r;
    r.ratio = c.compress_ratio(l);
    r.csa = c.is_csa(l);
    const std::string tag = absl::StrCat("layer", l, ".");
    r.window = arena.Add(tag + "window", B * W * p.kv_entry_bytes);
    if (r.ratio > 0) {
      const int64_t coff = r.ratio == 4 ? 2 : 1;
      const int64_t ring = B * coff * r.ratio * coff * D * 4;
      r.comp_kv = arena.Add(tag + "comp_kv", ring);
      r.comp_score = arena.Add(tag + "comp_score", ring);
      r.comp_capacity = shape.max_context / r.ratio;
      r.compressed = arena.Add(tag + "compressed", B * r.comp_capacity * p.kv_entry_bytes);
    }
    if (r.csa) {
      r.csa_ordinal = csa++;
      const int64_t ring = B * 8 * 2 * DI * 4;
      r.idx_kv = arena.Add(tag + "idx_kv", ring);
      r.idx_score = arena.Add(tag + "idx_score", ring);
      r.index_keys = arena.Add(tag + "index_keys", B * n_c4 * p.index_entry_bytes);
    }
    p.layers.push_back(r);
  }
  p.n_csa = csa;
  a.block_offset = arena.Add("block_offset", std::max<int64_t>(p.n_csa, 1) * 8);

  const int64_t n_mix = c.hc_dim();
  a.x = arena.Add("x", B * hc * d * 4);
  a.residual = arena.Add("residual", B * hc * d * 4);
  a.mixes = arena.Add("mixes", B * n_mix * 4);
  a.h = arena.Add("h", B * d * 4);
  a.post = arena.Add("post", B * hc * 4);
  a.comb = arena.Add("comb", B * hc * hc * 4);
  a.y = arena.Add("y", B * d * 4);
  a.cq = arena.Add("cq", B * c.q_lora_rank * 4);
  a.q = arena.Add("q", B * H * D * 4);
  a.kv = arena.Add("kv", B * D * 4);
  a.kv_entry = arena.Add("kv_entry", B * p.kv_entry_bytes);
  a.ckv = arena.Add("ckv", B * p.max_comp_width * 4);
  a.cscore = arena.Add("cscore", B * p.max_comp_width * 4);
  a.pool_values = arena.Add("pool_values", B * p.max_pool_slots * p.max_comp_dim * 4);
  a.pool_scores = arena.Add("pool_scores", B * p.max_pool_slots * p.max_comp_dim * 4);
  a.pooled = arena.Add("pooled", B * p.max_comp_dim * 4);
  a.pooled_entry = arena.Add("pooled_entry", B * std::max(p.kv_entry_bytes, p.index_entry_bytes));
  a.chunk_pos = arena.Add("chunk_pos", B * 8);
  a.iq = arena.Add("iq", B * HI * DI * 4);
  a.iw = arena.Add("iw", B * HI * 4);
  a.iscores = arena.Add("iscores", B * n_c4 * 4);
  a.selected = arena.Add("selected", B * std::max<int64_t>(c.index_topk, 1) * 4);
  a.sources = arena.Add("sources", B * p.max_sources * 4);
  a.n_sources = arena.Add("n_sources", B * 4);
  a.gather = arena.Add("gather", B * p.max_sources * D * 4);
  a.attn_logits = arena.Add("attn_logits", B * H * p.max_sources * 4);
  a.o = arena.Add("o", B * H * D * 4);
  const int64_t G = std::max<int64_t>(c.o_groups, 1), R = c.o_lora_rank;
  a.group_in = arena.Add("group_in", B * (H * D / G) * 4);
  a.group_out = arena.Add("group_out", B * R * 4);
  a.o_low = arena.Add("o_low", B * G * R * 4);
  a.router = arena.Add("router", B * E * 4);
  a.route_e = arena.Add("route_e", B * k * 4);
  a.route_w = arena.Add("route_w", B * k * 4);
  a.hash_rows = arena.Add("hash_rows", B * k * 4);
  a.ex_scale = arena.Add("ex_scale", E * B * 4);
  a.ex_gate = arena.Add("ex_gate", B * inter * 4);
  a.ex_up = arena.Add("ex_up", B * inter * 4);
  a.ex_out = arena.Add("ex_out", B * d * 4);
  a.moe_out = arena.Add("moe_out", B * d * 4);
  a.pair_gate = arena.Add("pair_gate", B * k * inter * 4);
  a.pair_up = arena.Add("pair_up", B * k * inter * 4);
  a.pair_out = arena.Add("pair_out", B * k * d * 4);
  a.expert_views = arena.Add("expert_views", c.num_hidden_layers * E * 3 *
                                                 static_cast<int64_t>(sizeof(kernels::WeightView)));
  a.head_y = arena.Add("head_y", B * d * 4);
  a.head_mix = arena.Add("head_mix", B * hc * 4);
  a.logits = arena.Add("logits", B * c.vocab_size * 4);
  a.next_token = arena.Add("next_token", B * 4);
  a.topk_workspace = arena.Add("topk_workspace", shape.topk_workspace_bytes);
  a.weights = arena.Add("weights", shape.weight_bytes);
  p.total_bytes = arena.end();
  return p;
}

const char* DecodeStreamName(DecodeStream s) {
  switch (s) {
    case DecodeStream::kCompute:
      return "compute";
    case DecodeStream::kH2d:
      return "h2d";
    case DecodeStream::kD2h:
      return "d2h";
  }
  return "?";
}

const char* DecodeStreamOpName(DecodeStreamOp op) {
  switch (op) {
    case DecodeStreamOp::kWaitEvent:
      return "wait_event";
    case DecodeStreamOp::kStagePages:
      return "stage_pages";
    case DecodeStreamOp::kRecordCopy:
      return "record_copy";
    case DecodeStreamOp::kPublishLut:
      return "publish_lut";
    case DecodeStreamOp::kRecordPublish:
      return "record_publish";
    case DecodeStreamOp::kLaunchStep:
      return "launch_step";
    case DecodeStreamOp::kRecordStep:
      return "record_step";
    case DecodeStreamOp::kReadTokens:
      return "read_tokens";
    case DecodeStreamOp::kOffloadTail:
      return "offload_tail";
  }
  return "?";
}

std::vector<DecodeOrderRecord> PlanStepOrder(const DecodeStepEvents& ev) {
  using S = DecodeStream;
  using O = DecodeStreamOp;
  std::vector<DecodeOrderRecord> r;
  auto add = [&r](S s, O op, int32_t waits_on = -1) {
    r.push_back({s, op, waits_on});
    return static_cast<int32_t>(r.size() - 1);
  };
  int32_t copy = kWaitPreviousCopy;
  if (ev.stage) {
    // Slots leaving the previous generation are rewritten only after its flip ran (invariant 3).
    add(S::kH2d, O::kWaitEvent, kWaitPreviousPublish);
    add(S::kH2d, O::kStagePages);
    copy = add(S::kH2d, O::kRecordCopy);
  }
  if (ev.publish) {
    add(S::kCompute, O::kWaitEvent, copy);  // copy before publish (invariant 1), a GPU-side wait
    add(S::kCompute, O::kPublishLut);
    add(S::kCompute, O::kRecordPublish);
  }
  add(S::kCompute, O::kLaunchStep);
  const int32_t step = add(S::kCompute, O::kRecordStep);
  add(S::kCompute, O::kReadTokens);
  if (ev.offload) {
    add(S::kD2h, O::kWaitEvent, step);  // the tail page's last chunk was written by this step
    add(S::kD2h, O::kOffloadTail);
  }
  return r;
}

absl::Status CheckStepOrder(const std::vector<DecodeOrderRecord>& records) {
  using O = DecodeStreamOp;
  auto fail = [&](size_t i, const std::string& why) {
    return absl::FailedPreconditionError(
        absl::StrCat("decode step order: record ", i, " (", DecodeStreamName(records[i].stream),
                     " ", DecodeStreamOpName(records[i].op), "): ", why));
  };
  // The last wait seen on each stream, as the op kind it awaits (previous-step sentinels count).
  auto awaited_kind = [&](size_t i) -> int {
    const int32_t w = records[i].waits_on;
    if (w == kWaitPreviousCopy) return static_cast<int>(O::kRecordCopy);
    if (w == kWaitPreviousPublish) return static_cast<int>(O::kRecordPublish);
    return static_cast<int>(records[static_cast<size_t>(w)].op);
  };
  for (size_t i = 0; i < records.size(); ++i) {
    const DecodeOrderRecord& rec = records[i];
    if (rec.op == O::kWaitEvent) {
      const int32_t w = rec.waits_on;
      if (w != kWaitPreviousCopy && w != kWaitPreviousPublish) {
        if (w < 0 || static_cast<size_t>(w) >= i) return fail(i, "waits on no earlier record");
        const O awaited = records[static_cast<size_t>(w)].op;
        if (awaited != O::kRecordCopy && awaited != O::kRecordPublish &&
            awaited != O::kRecordStep) {
          return fail(i, "waits on a record that records no event");
        }
        if (records[static_cast<size_t>(w)].stream == rec.stream) {
          return fail(i, "waits on an event of its own stream (stream order already covers it)");
        }
      }
      continue;
    }
    // The op must follow, on its own stream, a wait for the event it depends on.
    O needed = O::kWaitEvent;
    if (rec.op == O::kPublishLut) needed = O::kRecordCopy;
    if (rec.op == O::kStagePages) needed = O::kRecordPublish;
    if (rec.op == O::kOffloadTail) needed = O::kRecordStep;
    if (needed == O::kWaitEvent) continue;
    bool found = false;
    for (size_t j = i; j-- > 0;) {
      if (records[j].stream != rec.stream) continue;
      if (records[j].op != O::kWaitEvent) break;  // only the waits just before it count
      if (awaited_kind(j) == static_cast<int>(needed)) {
        found = true;
        break;
      }
    }
    if (!found) {
      return fail(i, absl::StrCat("is not preceded on its stream by a wait for ",
                                  DecodeStreamOpName(needed)));
    }
  }
  return absl::OkStatus();
}

}  // namespace fm::rt::cuda
