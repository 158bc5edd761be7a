// The op sequence of one GPU decode step (gpu_decode.h), in the CPU forward's order:
// runtime/model/sequence.cc (embedding, layers, head), layer.cc (mHC pre, norm, sublayer, mHC
// post), attention.cc + compressor.cc (q, window entry, compressors, Level 2, sparse attention,
// output projection) and moe.cc (routing, experts, shared expert). Everything is enqueued on the
// compute stream with fixed addresses, so the sequence can be captured into a graph.

#include <cmath>

#include "runtime/backend/cuda/decode_kernels.cuh"
#include "runtime/backend/cuda/gpu_decode_internal.h"
#include "runtime/model/moe_routing.h"

namespace fm::rt::cuda {

absl::Status GpuDecodeExecutor::EnqueueForward(int64_t n) {
  const ModelConfig& c = *config_;
  kernels::cuda::CudaBackend& be = backend_->be;
  cudaStream_t s = streams_[0];
  const DecodeActivations& a = plan_.act;
  const int64_t d = c.hidden_size, hc = c.hc_mult;
  FM_CUDA_RETURN_IF_ERROR(
      LaunchEmbedRows(w_->embed, At<int32_t>(a.tokens), n, hc, At<float>(a.x), s));
  for (size_t l = 0; l < w_->layers.size(); ++l) FM_RETURN_IF_ERROR(EnqueueLayer(l, n));
  // Head: hc_head pre-mix only, final norm, LM head; greedy next token (TopK k = 1: ties to the
  // lower id, as an argmax).
  FM_GPU_OP(be.Linear({&w_->hc_head.fn, At<float>(a.x), n, At<float>(a.head_mix)}));
  kernels::HcPreParams hp;
  hp.x = At<float>(a.x);
  hp.mixes_raw = At<float>(a.head_mix);
  hp.scale = w_->hc_head.scale;
  hp.base = w_->hc_head.base;
  hp.n_rows = n;
  hp.n_hc = hc;
  hp.dim = d;
  hp.n_mix = w_->hc_head.n_mix;
  hp.sinkhorn_iters = c.hc_sinkhorn_iters;
  hp.norm_eps = static_cast<float>(c.rms_norm_eps);
  hp.hc_eps = static_cast<float>(c.hc_eps);
  hp.y = At<float>(a.head_y);
  FM_GPU_OP(be.HcPre(hp));
  FM_GPU_OP(be.RmsNorm({At<float>(a.head_y), w_->norm, At<float>(a.head_y), n, d,
                        static_cast<float>(c.rms_norm_eps)}));
  FM_GPU_OP(be.Linear({&w_->head, At<float>(a.head_y), n, At<float>(a.logits)}));
  for (int64_t b = 0; b < n; ++b) {
    FM_GPU_OP(be.TopK(
        {At<float>(a.logits) + b * c.vocab_size, c.vocab_size, 1, At<int32_t>(a.next_token) + b}));
  }
  FM_CUDA_RETURN_IF_ERROR(LaunchAdvanceRows(At<int64_t>(a.positions), At<int32_t>(a.row_valid),
                                            At<int32_t>(a.tokens), At<int32_t>(a.next_token), n,
                                            s));
  return absl::OkStatus();
}

absl::Status GpuDecodeExecutor::EnqueueLayer(size_t l, int64_t n) {
  const ModelConfig& c = *config_;
  kernels::cuda::CudaBackend& be = backend_->be;
  const DecodeActivations& a = plan_.act;
  const DeviceWeights::Layer& w = w_->layers[l];
  const int64_t d = c.hidden_size, hc = c.hc_mult;
  for (int sub = 0; sub < 2; ++sub) {
    const bool attn = sub == 0;
    const DeviceWeights::Hc& hw = attn ? w.hc_attn : w.hc_ffn;
    FM_GPU_OP(be.Linear({&hw.fn, At<float>(a.x), n, At<float>(a.mixes)}));
    kernels::HcPreParams p;
    p.x = At<float>(a.x);
    p.mixes_raw = At<float>(a.mixes);
    p.scale = hw.scale;
    p.base = hw.base;
    p.n_rows = n;
    p.n_hc = hc;
    p.dim = d;
    p.n_mix = hw.n_mix;
    p.sinkhorn_iters = c.hc_sinkhorn_iters;
    p.norm_eps = static_cast<float>(c.rms_norm_eps);
    p.hc_eps = static_cast<float>(c.hc_eps);
    p.y = At<float>(a.h);
    p.post = At<float>(a.post);
    p.comb = At<float>(a.comb);
    FM_GPU_OP(be.HcPre(p));
    FM_GPU_OP(be.RmsNorm({At<float>(a.h), attn ? w.attn_norm : w.ffn_norm, At<float>(a.h), n, d,
                          static_cast<float>(c.rms_norm_eps)}));
    FM_RETURN_IF_ERROR(attn ? EnqueueAttention(l, n) : EnqueueMoe(l, n));
    FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(At<float>(a.residual), At<float>(a.x),
                                            static_cast<size_t>(n * hc * d * 4),
                                            cudaMemcpyDeviceToDevice, streams_[0]));
    FM_GPU_OP(be.HcPost({At<float>(a.y), At<float>(a.residual), At<float>(a.post),
                         At<float>(a.comb), n, hc, d, At<float>(a.x)}));
  }
  return absl::OkStatus();
}

absl::Status GpuDecodeExecutor::EnqueueAttention(size_t l, int64_t n) {
  const ModelConfig& c = *config_;
  kernels::cuda::CudaBackend& be = backend_->be;
  cudaStream_t s = streams_[0];
  const DecodeActivations& a = plan_.act;
  const DecodeLayerRegions& r = plan_.layers[l];
  const DeviceWeights::Layer& w = w_->layers[l];
  const int64_t H = c.num_attention_heads, D = c.head_dim, rope = c.qk_rope_head_dim;
  const int64_t W = c.sliding_window, qr = c.q_lora_rank, nope = c.nope_head_dim();
  const float eps = static_cast<float>(c.rms_norm_eps);
  const float* inv_freq = w_->inv_freq(w.ratio);
  const int64_t* pos = At<int64_t>(a.positions);
  const bool fp8 = plan_.shape.fp8_kv;
  const int64_t eb = plan_.kv_entry_bytes;
  float* h = At<float>(a.h);

  FM_GPU_OP(be.Linear({&w.wq_a, h, n, At<float>(a.cq)}));
  FM_GPU_OP(be.RmsNorm({At<float>(a.cq), w.q_norm, At<float>(a.cq), n, qr, eps}));
  FM_GPU_OP(be.Linear({&w.wq_b, At<float>(a.cq), n, At<float>(a.q)}));
  FM_GPU_OP(be.RmsNorm({At<float>(a.q), nullptr, At<float>(a.q), n * H, D, eps}));
  FM_GPU_OP(be.Rope(kernels::HeadTailRope(At<float>(a.q), n, H, D, rope, pos, inv_freq, false)));
  // The window entry, stored (encoded) before attention reads the window.
  FM_GPU_OP(be.Linear({&w.wkv, h, n, At<float>(a.kv)}));
  FM_GPU_OP(be.RmsNorm({At<float>(a.kv), w.kv_norm, At<float>(a.kv), n, D, eps}));
  FM_GPU_OP(be.Rope(kernels::HeadTailRope(At<float>(a.kv), n, 1, D, rope, pos, inv_freq, false)));
  if (fp8) {
    FM_GPU_OP(be.QuantizeKv({nope, rope, n, At<float>(a.kv), At<uint8_t>(a.kv_entry)}));
  } else {
    FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(At<uint8_t>(a.kv_entry), At<float>(a.kv),
                                            static_cast<size_t>(n * eb), cudaMemcpyDeviceToDevice,
                                            s));
  }
  FM_CUDA_RETURN_IF_ERROR(
      LaunchStoreRingEntry(At<uint8_t>(a.kv_entry), At<uint8_t>(r.window), pos, n, W, eb, s));

  // One compressor: projections, ring, pooling, norm, RoPE at the chunk start, (Hadamard), encode,
  // conditional store (DESIGN.md §2.2: new c4 entries also go to their hot-pool cell).
  auto compress = [&](const DeviceWeights::Comp& cw, int64_t ring_kv, int64_t ring_score,
                      bool index, int64_t store, int64_t capacity, int64_t entry_bytes,
                      bool to_pool) -> absl::Status {
    const int64_t slots = cw.coff * cw.ratio, Dc = cw.dim;
    FM_GPU_OP(be.Linear({&cw.wkv, h, n, At<float>(a.ckv)}));
    FM_GPU_OP(be.Linear({&cw.wgate, h, n, At<float>(a.cscore)}));
    CompressorStepParams cp;
    cp.kv = At<float>(a.ckv);
    cp.score = At<float>(a.cscore);
    cp.ape = cw.ape;
    cp.ring_kv = At<float>(ring_kv);
    cp.ring_score = At<float>(ring_score);
    cp.positions = pos;
    cp.batch = n;
    cp.ratio = cw.ratio;
    cp.coff = cw.coff;
    cp.dim = Dc;
    cp.values = At<float>(a.pool_values);
    cp.scores = At<float>(a.pool_scores);
    cp.chunk_pos = At<int64_t>(a.chunk_pos);
    FM_CUDA_RETURN_IF_ERROR(LaunchCompressorStep(cp, s));
    for (int64_t b = 0; b < n; ++b) {
      FM_GPU_OP(be.SoftmaxPool({At<float>(a.pool_values) + b * slots * Dc,
                                At<float>(a.pool_scores) + b * slots * Dc, slots, Dc,
                                At<float>(a.pooled) + b * Dc}));
    }
    FM_GPU_OP(be.RmsNorm({At<float>(a.pooled), cw.norm, At<float>(a.pooled), n, Dc, eps}));
    FM_GPU_OP(be.Rope(kernels::HeadTailRope(At<float>(a.pooled), n, 1, Dc, rope, At<int64_t>(a.chunk_pos),
                             w_->inv_freq(cw.ratio), false)));
    if (index) FM_GPU_OP(be.Hadamard({At<float>(a.pooled), n, Dc}));
    if (!fp8) {
      FM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(At<uint8_t>(a.pooled_entry), At<float>(a.pooled),
                                              static_cast<size_t>(n * entry_bytes),
                                              cudaMemcpyDeviceToDevice, s));
    } else if (index) {
      FM_GPU_OP(be.QuantizeIndexKey({Dc, n, At<float>(a.pooled), At<uint8_t>(a.pooled_entry)}));
    } else {
      FM_GPU_OP(
          be.QuantizeKv({Dc - rope, rope, n, At<float>(a.pooled), At<uint8_t>(a.pooled_entry)}));
    }
    StoreCompressedParams sp;
    sp.entry = At<uint8_t>(a.pooled_entry);
    sp.store = At<uint8_t>(store);
    sp.positions = pos;
    sp.batch = n;
    sp.ratio = cw.ratio;
    sp.capacity = capacity;
    sp.entry_bytes = entry_bytes;
    if (to_pool) {
      sp.lut = At<int32_t>(a.lut);
      sp.lsa_rows = At<int32_t>(a.lsa_rows);
      sp.n_pages = plan_.n_pages;
      sp.chunks_per_page = kChunksPerPage;
      sp.pool = reinterpret_cast<uint8_t*>(hot_pool_);
      sp.slot_bytes = slot_bytes_;
      sp.block_offset = r.csa_ordinal * kChunksPerPage * eb;
    }
    FM_CUDA_RETURN_IF_ERROR(LaunchStoreCompressed(sp, s));
    return absl::OkStatus();
  };

  if (w.has_compressor) {
    FM_RETURN_IF_ERROR(
        compress(w.comp, r.comp_kv, r.comp_score, false, r.compressed, r.comp_capacity, eb, r.csa));
  }
  const int64_t HI = c.index_n_heads, DI = c.index_head_dim, n_c4 = plan_.shape.max_context / 4;
  const int64_t k_sel = std::min<int64_t>(c.index_topk, n_c4);
  if (w.has_indexer) {
    FM_GPU_OP(be.Linear({&w.idx_wq_b, At<float>(a.cq), n, At<float>(a.iq)}));
    FM_GPU_OP(be.Rope(kernels::HeadTailRope(At<float>(a.iq), n, HI, DI, rope, pos, inv_freq, false)));
    FM_GPU_OP(be.Hadamard({At<float>(a.iq), n * HI, DI}));
    FM_GPU_OP(be.Linear({&w.idx_weights_proj, h, n, At<float>(a.iw)}));
    const float wscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(DI) * HI));
    FM_CUDA_RETURN_IF_ERROR(LaunchScale(At<float>(a.iw), n * HI, wscale, s));
    FM_RETURN_IF_ERROR(compress(w.idx_comp, r.idx_kv, r.idx_score, true, r.index_keys, n_c4,
                                plan_.index_entry_bytes, false));
    // Level 2: score every chunk of the row's capacity, mask beyond causality and (LSA rows)
    // outside the resident pages, top-k.
    const int64_t ieb = plan_.index_entry_bytes;
    for (int64_t b = 0; b < n; ++b) {
      kernels::IndexerScoreParams ip;
      ip.q = At<float>(a.iq) + b * HI * DI;
      ip.weights = At<float>(a.iw) + b * HI;
      const uint8_t* keys = At<uint8_t>(r.index_keys) + b * n_c4 * ieb;
      if (fp8) {
        ip.keys_fp8 = keys;
        ip.key_scales = keys + DI;
        ip.scale_stride = ieb;
        ip.key_stride = ieb;
      } else {
        ip.keys_f32 = reinterpret_cast<const float*>(keys);
        ip.key_stride = DI;
      }
      ip.n_keys = n_c4;
      ip.n_heads = HI;
      ip.dim = DI;
      ip.out = At<float>(a.iscores) + b * n_c4;
      FM_GPU_OP(be.IndexerScore(ip));
    }
    MaskScoresParams mp;
    mp.scores = At<float>(a.iscores);
    mp.batch = n;
    mp.n = n_c4;
    mp.ratio = 4;
    mp.positions = pos;
    mp.lut = At<int32_t>(a.lut);
    mp.lsa_rows = At<int32_t>(a.lsa_rows);
    mp.n_pages = plan_.n_pages;
    mp.chunks_per_page = kChunksPerPage;
    FM_CUDA_RETURN_IF_ERROR(LaunchMaskScores(mp, s));
    for (int64_t b = 0; b < n; ++b) {
      FM_GPU_OP(be.TopK(
          {At<float>(a.iscores) + b * n_c4, n_c4, k_sel, At<int32_t>(a.selected) + b * k_sel}));
    }
  }
  BuildSourcesParams bp;
  bp.positions = pos;
  bp.batch = n;
  bp.window = W;
  bp.ratio = w.has_compressor ? w.ratio : 0;
  bp.max_sources = plan_.max_sources;
  if (w.has_indexer) {
    bp.selected = At<int32_t>(a.selected);
    bp.k = k_sel;
    bp.scores = At<float>(a.iscores);
    bp.n_scores = n_c4;
  }
  bp.sources = At<int32_t>(a.sources);
  bp.n_sources = At<int32_t>(a.n_sources);
  FM_CUDA_RETURN_IF_ERROR(LaunchBuildSources(bp, s));
  GatherSourcesParams gp;
  gp.sources = At<int32_t>(a.sources);
  gp.n_sources = At<int32_t>(a.n_sources);
  gp.batch = n;
  gp.max_sources = plan_.max_sources;
  gp.nope = nope;
  gp.rope = rope;
  gp.entry_bytes = eb;
  gp.fp8 = fp8;
  gp.window = At<uint8_t>(r.window);
  gp.window_size = W;
  gp.store = r.compressed >= 0 ? At<uint8_t>(r.compressed) : nullptr;
  gp.capacity = r.comp_capacity;
  if (r.csa) {
    gp.lut = At<int32_t>(a.lut);
    gp.lsa_rows = At<int32_t>(a.lsa_rows);
    gp.n_pages = plan_.n_pages;
    gp.chunks_per_page = kChunksPerPage;
    gp.pool = reinterpret_cast<const uint8_t*>(hot_pool_);
    gp.slot_bytes = slot_bytes_;
    gp.block_offset = r.csa_ordinal * kChunksPerPage * eb;
  }
  gp.gather = At<float>(a.gather);
  FM_CUDA_RETURN_IF_ERROR(LaunchGatherSources(gp, s));
  SparseAttentionParams ap;
  ap.q = At<float>(a.q);
  ap.gather = At<float>(a.gather);
  ap.n_sources = At<int32_t>(a.n_sources);
  ap.sink = w.attn_sink;
  ap.batch = n;
  ap.n_heads = H;
  ap.head_dim = D;
  ap.max_sources = plan_.max_sources;
  ap.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  ap.logits = At<float>(a.attn_logits);
  ap.out = At<float>(a.o);
  FM_CUDA_RETURN_IF_ERROR(LaunchSparseAttention(ap, s));

  // V = K carried RoPE into o: undo it, then the grouped low-rank output projection.
  FM_GPU_OP(be.Rope(kernels::HeadTailRope(At<float>(a.o), n, H, D, rope, pos, inv_freq, true)));
  const int64_t G = c.o_groups, R = c.o_lora_rank, gw = H * D / G;
  for (int64_t g = 0; g < G; ++g) {
    FM_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(At<float>(a.group_in), gw * 4,
                                              At<float>(a.o) + g * gw, H * D * 4, gw * 4, n,
                                              cudaMemcpyDeviceToDevice, s));
    FM_GPU_OP(be.Linear({&w.wo_a_groups[static_cast<size_t>(g)], At<float>(a.group_in), n,
                         At<float>(a.group_out)}));
    FM_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(At<float>(a.o_low) + g * R, G * R * 4,
                                              At<float>(a.group_out), R * 4, R * 4, n,
                                              cudaMemcpyDeviceToDevice, s));
  }
  FM_GPU_OP(be.Linear({&w.wo_b, At<float>(a.o_low), n, At<float>(a.y)}));
  return absl::OkStatus();
}

absl::Status GpuDecodeExecutor::EnqueueMoe(size_t l, int64_t n) {
  const ModelConfig& c = *config_;
  kernels::cuda::CudaBackend& be = backend_->be;
  cudaStream_t s = streams_[0];
  const DecodeActivations& a = plan_.act;
  const DeviceWeights::Layer& w = w_->layers[l];
  const int64_t d = c.hidden_size, E = c.n_routed_experts, k = c.num_experts_per_tok;
  float* h = At<float>(a.h);
  FM_GPU_OP(be.Linear({&w.gate, h, n, At<float>(a.router)}));
  kernels::RouteParams rp = MoeRouteParams(c, At<float>(a.router), n);
  if (w.hash) {
    FM_CUDA_RETURN_IF_ERROR(
        LaunchHashRows(w.tid2eid, At<int32_t>(a.tokens), n, k, At<int32_t>(a.hash_rows), s));
    rp.hash_experts = At<int32_t>(a.hash_rows);
  } else {
    rp.bias = w.gate_bias;
  }
  rp.experts = At<int32_t>(a.route_e);
  rp.weights = At<float>(a.route_w);
  FM_GPU_OP(be.Route(rp));
  FM_CUDA_RETURN_IF_ERROR(LaunchExpertScales(At<int32_t>(a.route_e), At<float>(a.route_w), n, k, E,
                                             At<float>(a.ex_scale), s));
  float* out = At<float>(a.y);
  auto expert = [&](const DeviceWeights::Expert& e, const float* row_scale) -> absl::Status {
    const int64_t inter = e.w1.rows;
    FM_GPU_OP(be.Linear({&e.w1, h, n, At<float>(a.ex_gate)}));
    FM_GPU_OP(be.Linear({&e.w3, h, n, At<float>(a.ex_up)}));
    FM_GPU_OP(be.Swiglu({At<float>(a.ex_gate), At<float>(a.ex_up), row_scale, n, inter,
                         static_cast<float>(c.swiglu_limit), At<float>(a.ex_gate)}));
    FM_GPU_OP(be.Linear({&e.w2, At<float>(a.ex_gate), n, At<float>(a.ex_out)}));
    FM_CUDA_RETURN_IF_ERROR(LaunchAddInPlace(out, At<float>(a.ex_out), n * d, s));
    return absl::OkStatus();
  };
  if (routed_experts_) {
    // Each (row, slot) pair through its own expert, by the device-side id, then the combine.
    const int64_t pairs = n * k, inter = w.experts[0].w1.rows;
    RoutedGemvParams g;
    g.views = At<kernels::WeightView>(a.expert_views) + static_cast<int64_t>(l) * E * 3;
    g.experts = At<int32_t>(a.route_e);
    g.n_pairs = pairs;
    g.rows = inter;
    g.cols = d;
    g.x_row_div = k;
    g.x = h;
    g.which = 0;
    g.y = At<float>(a.pair_gate);
    FM_CUDA_RETURN_IF_ERROR(LaunchRoutedGemv(g, s));
    g.which = 2;
    g.y = At<float>(a.pair_up);
    FM_CUDA_RETURN_IF_ERROR(LaunchRoutedGemv(g, s));
    // The routing weight of each pair is its row scale, as the CPU's grouped rows carry it.
    FM_GPU_OP(be.Swiglu({At<float>(a.pair_gate), At<float>(a.pair_up), At<float>(a.route_w), pairs,
                         inter, static_cast<float>(c.swiglu_limit), At<float>(a.pair_gate)}));
    g.which = 1;
    g.rows = w.experts[0].w2.rows;
    g.cols = inter;
    g.x_row_div = 1;
    g.x = At<float>(a.pair_gate);
    g.y = At<float>(a.pair_out);
    FM_CUDA_RETURN_IF_ERROR(LaunchRoutedGemv(g, s));
    FM_CUDA_RETURN_IF_ERROR(
        LaunchCombineExperts(At<float>(a.pair_out), At<int32_t>(a.route_e), n, k, d, out, s));
  } else {
    // Dense over experts, ascending (the CPU's sum order): rows that did not pick e scale it by 0.
    FM_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(out, 0, static_cast<size_t>(n * d * 4), s));
    for (int64_t e = 0; e < E; ++e) {  // ex_scale is [E][n] for this step's n rows
      FM_RETURN_IF_ERROR(expert(w.experts[static_cast<size_t>(e)], At<float>(a.ex_scale) + e * n));
    }
  }
  if (w.has_shared) FM_RETURN_IF_ERROR(expert(w.shared, nullptr));
  return absl::OkStatus();
}

}  // namespace fm::rt::cuda
