// The weights' device copies of the GPU decode executor (gpu_decode_internal.h): FP8 and MXFP4
// matrices keep their packed bytes and block scales; small float parameters go as they are.

#include "runtime/backend/cuda/gpu_decode_internal.h"

namespace fm::rt::cuda {
namespace {

absl::Status PlaceHc(const HcWeights& h, WeightPlacer& put,
                     GpuDecodeExecutor::DeviceWeights::Hc* o) {
  FM_ASSIGN_OR_RETURN(o->fn, put.View(h.fn_view));
  FM_ASSIGN_OR_RETURN(o->base, put.Vec(h.base));
  FM_ASSIGN_OR_RETURN(o->scale, put.Vec(h.scale));
  o->n_mix = h.n_mix;
  return absl::OkStatus();
}

absl::Status PlaceComp(const CompressorWeights& c, WeightPlacer& put,
                       GpuDecodeExecutor::DeviceWeights::Comp* o) {
  o->ratio = c.ratio;
  o->coff = c.coff;
  o->dim = c.dim;
  FM_ASSIGN_OR_RETURN(o->wkv, put.View(c.wkv));
  FM_ASSIGN_OR_RETURN(o->wgate, put.View(c.wgate));
  FM_ASSIGN_OR_RETURN(o->ape, put.Vec(c.ape));
  FM_ASSIGN_OR_RETURN(o->norm, put.Vec(c.norm));
  return absl::OkStatus();
}

absl::Status PlaceExpert(const ExpertWeights& e, WeightPlacer& put,
                         GpuDecodeExecutor::DeviceWeights::Expert* o) {
  FM_ASSIGN_OR_RETURN(o->w1, put.View(e.w1));
  FM_ASSIGN_OR_RETURN(o->w2, put.View(e.w2));
  FM_ASSIGN_OR_RETURN(o->w3, put.View(e.w3));
  return absl::OkStatus();
}

}  // namespace

absl::Status PlaceWeights(const ModelImpl& m, WeightPlacer& put,
                          GpuDecodeExecutor::DeviceWeights* out) {
  const ModelWeights& w = m.weights();
  const ModelConfig& c = m.config();
  FM_ASSIGN_OR_RETURN(out->embed, put.View(w.embed));
  FM_ASSIGN_OR_RETURN(out->head, put.View(w.head));
  FM_ASSIGN_OR_RETURN(out->norm, put.Vec(w.norm));
  FM_RETURN_IF_ERROR(PlaceHc(w.hc_head, put, &out->hc_head));
  const int64_t half_rope = c.qk_rope_head_dim / 2;
  const std::vector<float> plain(m.inv_freq(0), m.inv_freq(0) + half_rope);
  const std::vector<float> yarn(m.inv_freq(4), m.inv_freq(4) + half_rope);
  FM_ASSIGN_OR_RETURN(out->plain_inv_freq, put.Vec(plain));
  FM_ASSIGN_OR_RETURN(out->yarn_inv_freq, put.Vec(yarn));
  out->layers.clear();
  out->layers.resize(w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& lw = w.layers[l];
    GpuDecodeExecutor::DeviceWeights::Layer& d = out->layers[l];
    d.ratio = lw.ratio;
    FM_ASSIGN_OR_RETURN(d.attn_norm, put.Vec(lw.attn_norm));
    FM_ASSIGN_OR_RETURN(d.ffn_norm, put.Vec(lw.ffn_norm));
    FM_RETURN_IF_ERROR(PlaceHc(lw.hc_attn, put, &d.hc_attn));
    FM_RETURN_IF_ERROR(PlaceHc(lw.hc_ffn, put, &d.hc_ffn));
    const AttentionWeights& a = lw.attn;
    FM_ASSIGN_OR_RETURN(d.wq_a, put.View(a.wq_a));
    FM_ASSIGN_OR_RETURN(d.wq_b, put.View(a.wq_b));
    FM_ASSIGN_OR_RETURN(d.wkv, put.View(a.wkv));
    FM_ASSIGN_OR_RETURN(d.wo_b, put.View(a.wo_b));
    d.wo_a_groups.clear();
    for (const kernels::WeightView& g : a.wo_a_groups) {
      FM_ASSIGN_OR_RETURN(kernels::WeightView dg, put.View(g));
      d.wo_a_groups.push_back(dg);
    }
    FM_ASSIGN_OR_RETURN(d.q_norm, put.Vec(a.q_norm));
    FM_ASSIGN_OR_RETURN(d.kv_norm, put.Vec(a.kv_norm));
    FM_ASSIGN_OR_RETURN(d.attn_sink, put.Vec(a.attn_sink));
    d.has_compressor = a.has_compressor;
    d.has_indexer = a.has_indexer;
    if (a.has_compressor) FM_RETURN_IF_ERROR(PlaceComp(a.compressor, put, &d.comp));
    if (a.has_indexer) {
      FM_RETURN_IF_ERROR(PlaceComp(a.idx_compressor, put, &d.idx_comp));
      FM_ASSIGN_OR_RETURN(d.idx_wq_b, put.View(a.idx_wq_b));
      FM_ASSIGN_OR_RETURN(d.idx_weights_proj, put.View(a.idx_weights_proj));
    }
    const MoeWeights& f = lw.ffn;
    FM_ASSIGN_OR_RETURN(d.gate, put.View(f.gate));
    d.hash = f.hash;
    if (f.hash) {
      FM_ASSIGN_OR_RETURN(d.tid2eid, put.Vec(f.tid2eid));
    } else if (!f.gate_bias.empty()) {
      FM_ASSIGN_OR_RETURN(d.gate_bias, put.Vec(f.gate_bias));
    }
    d.experts.resize(f.experts.size());
    for (size_t e = 0; e < f.experts.size(); ++e) {
      FM_RETURN_IF_ERROR(PlaceExpert(f.experts[e], put, &d.experts[e]));
    }
    d.has_shared = f.has_shared;
    if (f.has_shared) FM_RETURN_IF_ERROR(PlaceExpert(f.shared, put, &d.shared));
  }
  return absl::OkStatus();
}

}  // namespace fm::rt::cuda
