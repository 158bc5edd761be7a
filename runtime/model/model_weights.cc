#include "runtime/model/model_weights.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cpu/linear.h"

namespace fm::rt {
namespace {

using kernels::WeightView;

const std::vector<DType> kFloatTypes = {DType::kF32, DType::kBF16, DType::kF16};

absl::Status LoadHc(const Checkpoint& ck, const std::string& prefix, const std::string& stem,
                    int64_t n_mix, int64_t n_scale, int64_t hc_dim, HcWeights* out) {
  FM_ASSIGN_OR_RETURN(out->fn, ck.GetFloats(prefix + stem + "_fn", {n_mix, hc_dim}));
  FM_ASSIGN_OR_RETURN(out->base, ck.GetFloats(prefix + stem + "_base", {n_mix}));
  FM_ASSIGN_OR_RETURN(out->scale, ck.GetFloats(prefix + stem + "_scale", {n_scale}));
  out->n_mix = n_mix;
  out->fn_view.format = kernels::WeightFormat::kF32;
  out->fn_view.rows = n_mix;
  out->fn_view.cols = hc_dim;
  out->fn_view.data = out->fn.data();
  return absl::OkStatus();
}

absl::Status LoadCompressor(const Checkpoint& ck, const std::string& prefix, int64_t ratio,
                            int64_t dim, int64_t d, CompressorWeights* out) {
  out->ratio = ratio;
  out->coff = ratio == 4 ? 2 : 1;
  out->dim = dim;
  const int64_t width = out->coff * dim;
  FM_ASSIGN_OR_RETURN(out->wkv, ck.GetWeight(prefix + "wkv.weight", width, d));
  FM_ASSIGN_OR_RETURN(out->wgate, ck.GetWeight(prefix + "wgate.weight", width, d));
  FM_ASSIGN_OR_RETURN(out->ape, ck.GetFloats(prefix + "ape", {ratio, width}));
  FM_ASSIGN_OR_RETURN(out->norm, ck.GetFloats(prefix + "norm.weight", {dim}));
  return absl::OkStatus();
}

absl::Status LoadExpert(const Checkpoint& ck, const std::string& prefix, int64_t inter, int64_t d,
                        ExpertWeights* out) {
  FM_ASSIGN_OR_RETURN(out->w1, ck.GetWeight(prefix + "w1.weight", inter, d));
  FM_ASSIGN_OR_RETURN(out->w2, ck.GetWeight(prefix + "w2.weight", d, inter));
  FM_ASSIGN_OR_RETURN(out->w3, ck.GetWeight(prefix + "w3.weight", inter, d));
  return absl::OkStatus();
}

absl::Status LoadAttention(const Checkpoint& ck, const ModelConfig& c, const std::string& p,
                           int64_t ratio, AttentionWeights* a) {
  const int64_t d = c.hidden_size, H = c.num_attention_heads, D = c.head_dim;
  const int64_t G = c.o_groups, R = c.o_lora_rank, q = c.q_lora_rank;
  FM_ASSIGN_OR_RETURN(a->wq_a, ck.GetWeight(p + "attn.wq_a.weight", q, d));
  FM_ASSIGN_OR_RETURN(a->q_norm, ck.GetFloats(p + "attn.q_norm.weight", {q}));
  FM_ASSIGN_OR_RETURN(a->wq_b, ck.GetWeight(p + "attn.wq_b.weight", H * D, q));
  FM_ASSIGN_OR_RETURN(a->wkv, ck.GetWeight(p + "attn.wkv.weight", D, d));
  FM_ASSIGN_OR_RETURN(a->kv_norm, ck.GetFloats(p + "attn.kv_norm.weight", {D}));
  FM_ASSIGN_OR_RETURN(WeightView wo_a, ck.GetWeight(p + "attn.wo_a.weight", G * R, H * D / G));
  FM_ASSIGN_OR_RETURN(a->wo_b, ck.GetWeight(p + "attn.wo_b.weight", d, G * R));
  FM_ASSIGN_OR_RETURN(a->attn_sink, ck.GetFloats(p + "attn.attn_sink", {H}));
  // Each group reads its own slice of heads, so wo_a is applied as G row slices. When FP8 blocks
  // straddle a group boundary (only in small test shapes) the weight is dequantised once instead.
  a->wo_a_groups.resize(static_cast<size_t>(G));
  bool sliced = true;
  for (int64_t g = 0; g < G && sliced; ++g) {
    sliced = RowSliceView(wo_a, g * R, R, &a->wo_a_groups[static_cast<size_t>(g)]);
  }
  if (!sliced) {
    a->wo_a_f32.resize(static_cast<size_t>(wo_a.rows * wo_a.cols));
    for (int64_t r = 0; r < wo_a.rows; ++r) {
      kernels::cpu::DequantRow(wo_a, r, a->wo_a_f32.data() + r * wo_a.cols);
    }
    WeightView full;
    full.format = kernels::WeightFormat::kF32;
    full.rows = wo_a.rows;
    full.cols = wo_a.cols;
    full.data = a->wo_a_f32.data();
    for (int64_t g = 0; g < G; ++g) RowSliceView(full, g * R, R, &a->wo_a_groups[static_cast<size_t>(g)]);
  }
  if (ratio == 0) return absl::OkStatus();
  a->has_compressor = true;
  FM_RETURN_IF_ERROR(LoadCompressor(ck, p + "attn.compressor.", ratio, D, d, &a->compressor));
  if (ratio != 4) return absl::OkStatus();
  a->has_indexer = true;
  const int64_t HI = c.index_n_heads, DI = c.index_head_dim;
  FM_ASSIGN_OR_RETURN(a->idx_wq_b, ck.GetWeight(p + "attn.indexer.wq_b.weight", HI * DI, q));
  FM_ASSIGN_OR_RETURN(a->idx_weights_proj, ck.GetWeight(p + "attn.indexer.weights_proj.weight", HI, d));
  FM_RETURN_IF_ERROR(LoadCompressor(ck, p + "attn.indexer.compressor.", ratio, DI, d, &a->idx_compressor));
  return absl::OkStatus();
}

absl::Status LoadMoe(const Checkpoint& ck, const ModelConfig& c, const std::string& p, bool hash,
                     MoeWeights* m) {
  const int64_t d = c.hidden_size, E = c.n_routed_experts, I = c.moe_intermediate_size;
  m->hash = hash;
  FM_ASSIGN_OR_RETURN(m->gate, ck.GetWeight(p + "ffn.gate.weight", E, d));
  if (hash) {
    FM_ASSIGN_OR_RETURN(m->tid2eid, ck.GetIndexTable(p + "ffn.gate.tid2eid",
                                                     {c.vocab_size, c.num_experts_per_tok}, E));
  } else {
    FM_ASSIGN_OR_RETURN(m->gate_bias, ck.GetFloats(p + "ffn.gate.bias", {E}));
  }
  m->experts.resize(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {
    FM_RETURN_IF_ERROR(LoadExpert(ck, absl::StrCat(p, "ffn.experts.", e, "."), I, d,
                                  &m->experts[static_cast<size_t>(e)]));
  }
  if (c.n_shared_experts > 0) {
    m->has_shared = true;
    // Several shared experts are one fused expert of n_shared * I width (DeepSeek convention).
    FM_RETURN_IF_ERROR(LoadExpert(ck, p + "ffn.shared_experts.", c.n_shared_experts * I, d, &m->shared));
  }
  return absl::OkStatus();
}

absl::Status LoadLayer(const Checkpoint& ck, const ModelConfig& c, const std::string& p,
                       int64_t index, bool hash, LayerWeights* l) {
  const int64_t d = c.hidden_size, hc = c.hc_mult;
  l->index = index;
  l->ratio = c.compress_ratio(index);
  FM_ASSIGN_OR_RETURN(l->attn_norm, ck.GetFloats(p + "attn_norm.weight", {d}));
  FM_ASSIGN_OR_RETURN(l->ffn_norm, ck.GetFloats(p + "ffn_norm.weight", {d}));
  FM_RETURN_IF_ERROR(LoadHc(ck, p, "hc_attn", c.hc_dim(), 3, hc * d, &l->hc_attn));
  FM_RETURN_IF_ERROR(LoadHc(ck, p, "hc_ffn", c.hc_dim(), 3, hc * d, &l->hc_ffn));
  FM_RETURN_IF_ERROR(LoadAttention(ck, c, p, l->ratio, &l->attn));
  FM_RETURN_IF_ERROR(LoadMoe(ck, c, p, hash, &l->ffn));
  return absl::OkStatus();
}

absl::Status CheckSupported(const ModelConfig& c) {
  auto bad = [](const std::string& what) {
    return absl::UnimplementedError(absl::StrCat("config.json: ", what));
  };
  if (c.num_key_value_heads != 1) {
    return bad(absl::StrCat("num_key_value_heads=", c.num_key_value_heads, " (only 1, shared K=V, is supported)"));
  }
  if (c.qk_rope_head_dim % 2 != 0 || c.qk_rope_head_dim > c.head_dim ||
      c.qk_rope_head_dim > c.index_head_dim) {
    return bad(absl::StrCat("qk_rope_head_dim=", c.qk_rope_head_dim,
                            " must be even and at most head_dim and index_head_dim"));
  }
  if (c.o_groups <= 0 || c.num_attention_heads % c.o_groups != 0) {
    return bad(absl::StrCat("o_groups=", c.o_groups, " must divide num_attention_heads=", c.num_attention_heads));
  }
  if (c.hidden_act != "silu") return bad(absl::StrCat("hidden_act='", c.hidden_act, "' (only silu)"));
  if (c.scoring_func != "sqrtsoftplus" && c.scoring_func != "sigmoid" && c.scoring_func != "softmax") {
    return bad(absl::StrCat("scoring_func='", c.scoring_func, "'"));
  }
  const int64_t di = c.index_head_dim;
  bool any_csa = false;
  for (int64_t l = 0; l < c.num_hidden_layers + c.num_nextn_predict_layers; ++l) any_csa |= c.is_csa(l);
  if (any_csa && (di <= 0 || (di & (di - 1)) != 0)) {
    return bad(absl::StrCat("index_head_dim=", di, " must be a power of two (Hadamard transform)"));
  }
  for (int64_t m = 0; m < c.num_nextn_predict_layers; ++m) {
    const int64_t r = c.compress_ratio(c.num_hidden_layers + m);
    if (r != 0) {
      return bad(absl::StrCat("compress_ratios[", c.num_hidden_layers + m, "]=", r,
                              ": MTP blocks with compressed attention are not supported (expected 0)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool RowSliceView(const WeightView& w, int64_t row0, int64_t n_rows, WeightView* out) {
  *out = w;
  out->rows = n_rows;
  switch (w.format) {
    case kernels::WeightFormat::kF32:
      out->data = static_cast<const float*>(w.data) + row0 * w.cols;
      return true;
    case kernels::WeightFormat::kBF16:
    case kernels::WeightFormat::kF16:
      out->data = static_cast<const uint16_t*>(w.data) + row0 * w.cols;
      return true;
    case kernels::WeightFormat::kFP8Block128:
      if (row0 % 128 != 0) return false;
      out->data = static_cast<const uint8_t*>(w.data) + row0 * w.cols;
      out->scale = w.scale + (row0 / 128) * w.scale_cols;
      return true;
    case kernels::WeightFormat::kMXFP4:
      out->data = static_cast<const uint8_t*>(w.data) + row0 * (w.cols / 2);
      out->scale = w.scale + row0 * w.scale_cols;
      return true;
  }
  return false;
}

absl::StatusOr<ModelWeights> LoadModelWeights(const Checkpoint& ck) {
  const ModelConfig& c = ck.config();
  FM_RETURN_IF_ERROR(CheckSupported(c));
  const int64_t d = c.hidden_size, hc = c.hc_mult;
  ModelWeights w;
  FM_ASSIGN_OR_RETURN(w.embed, ck.GetWeight("embed.weight", c.vocab_size, d));
  FM_ASSIGN_OR_RETURN(w.head, ck.GetWeight("head.weight", c.vocab_size, d));
  FM_ASSIGN_OR_RETURN(w.norm, ck.GetFloats("norm.weight", {d}));
  FM_RETURN_IF_ERROR(LoadHc(ck, "", "hc_head", hc, 1, hc * d, &w.hc_head));
  w.layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    FM_RETURN_IF_ERROR(Annotate(LoadLayer(ck, c, absl::StrCat("layers.", l, "."), l, c.is_hash_layer(l),
                                          &w.layers[static_cast<size_t>(l)]),
                                absl::StrCat("decoder layer ", l)));
  }
  w.mtp.resize(static_cast<size_t>(c.num_nextn_predict_layers));
  for (int64_t m = 0; m < c.num_nextn_predict_layers; ++m) {
    const std::string p = absl::StrCat("mtp.", m, ".");
    MtpWeights& mw = w.mtp[static_cast<size_t>(m)];
    auto load = [&]() -> absl::Status {
      // The MTP block is never hash-routed (it always carries gate.bias).
      FM_RETURN_IF_ERROR(LoadLayer(ck, c, p, c.num_hidden_layers + m, false, &mw.layer));
      FM_ASSIGN_OR_RETURN(mw.e_proj, ck.GetWeight(p + "e_proj.weight", d, d));
      FM_ASSIGN_OR_RETURN(mw.h_proj, ck.GetWeight(p + "h_proj.weight", d, d));
      FM_ASSIGN_OR_RETURN(mw.enorm, ck.GetFloats(p + "enorm.weight", {d}));
      FM_ASSIGN_OR_RETURN(mw.hnorm, ck.GetFloats(p + "hnorm.weight", {d}));
      FM_ASSIGN_OR_RETURN(mw.norm, ck.GetFloats(p + "norm.weight", {d}));
      return LoadHc(ck, p, "hc_head", hc, 1, hc * d, &mw.hc_head);
    };
    FM_RETURN_IF_ERROR(Annotate(load(), absl::StrCat("MTP block ", m)));
  }
  return w;
}

}  // namespace fm::rt
