// The attention sublayer (V4_FLASH_LSA.md §2.3-2.6): low-rank q with per-head RMS, shared K=V
// window entry, the compressed branches (CSA with the Lightning indexer, or HCA), one softmax
// over window and compressed entries with a per-head sink, inverse RoPE on the output, and the
// grouped low-rank output projection.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/model/forward.h"

namespace fm::rt {
namespace {

// Queries attended together: their gathered K=V rows live in scratch at the same time.
constexpr int64_t kQueryBlock = 16;
// Work units of the parallel phases: index keys scored per task, entries dequantised per task.
constexpr int64_t kKeyBlock = 256;
constexpr int64_t kEntryBlock = 32;

kernels::RopeParams RopeFor(float* x, const ForwardArgs& a, int64_t n_heads, int64_t head_dim,
                            int64_t rope, const float* inv_freq, bool inverse) {
  return kernels::HeadTailRope(x, a.n_rows, n_heads, head_dim, rope, a.positions, inv_freq, inverse);
}

void ParallelOrInline(kernels::cpu::ThreadPool* pool, int64_t n,
                      const std::function<void(int64_t, int64_t)>& fn) {
  if (pool != nullptr && n > 1) {
    pool->ParallelFor(n, 1, fn);
  } else {
    fn(0, n);
  }
}

}  // namespace

absl::Status ProjectWindowKv(const ForwardArgs& a, const LayerWeights& w, const float* h, float* kv) {
  const ModelConfig& c = a.model->config();
  kernels::KernelBackend* be = a.model->backend();
  const int64_t T = a.n_rows, D = c.head_dim;
  FM_OP(be->Linear({&w.attn.wkv, h, T, kv}));
  FM_OP(be->RmsNorm({kv, w.attn.kv_norm.data(), kv, T, D, static_cast<float>(c.rms_norm_eps)}));
  FM_OP(be->Rope(RopeFor(kv, a, 1, D, c.qk_rope_head_dim, a.model->inv_freq(w.ratio), false)));
  return absl::OkStatus();
}

absl::Status AttentionForward(const ForwardArgs& a, const LayerWeights& w, LayerState& st,
                              const float* h, float* out) {
  const ModelConfig& c = a.model->config();
  kernels::KernelBackend* be = a.model->backend();
  kernels::cpu::ThreadPool* pool = a.model->pool();
  Scratch& s = *a.scratch;
  const AttentionWeights& aw = w.attn;
  const int64_t T = a.n_rows, H = c.num_attention_heads, D = c.head_dim, r = c.qk_rope_head_dim;
  const int64_t W = c.sliding_window, qr = c.q_lora_rank;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const float* inv_freq = a.model->inv_freq(w.ratio);

  // q: wq_a -> q_norm -> wq_b, then a weight-free RMS per head and RoPE on its last r dims.
  float* cq = Grow(s.cq, T * qr);
  FM_OP(be->Linear({&aw.wq_a, h, T, cq}));
  FM_OP(be->RmsNorm({cq, aw.q_norm.data(), cq, T, qr, eps}));
  float* q = Grow(s.q, T * H * D);
  FM_OP(be->Linear({&aw.wq_b, cq, T, q}));
  FM_OP(be->RmsNorm({q, nullptr, q, T * H, D, eps}));
  FM_OP(be->Rope(RopeFor(q, a, H, D, r, inv_freq, false)));

  // The window entry is stored (quantised) before attention, so the current token attends to
  // exactly what later tokens will read back.
  float* kv = Grow(s.kv, T * D);
  FM_RETURN_IF_ERROR(ProjectWindowKv(a, w, h, kv));
  st.chunk.Resize(T);
  for (int64_t t = 0; t < T; ++t) st.chunk.Store(t, kv + t * D);

  // Entries stored before this call: under a pool view, the CSA layers read them from the pool.
  const int64_t n_stored_before = st.compressed.size();
  if (aw.has_compressor) {
    FM_RETURN_IF_ERROR(CompressorForward(a, aw.compressor, st.comp, st.compressed, false, h));
  }
  const int64_t HI = c.index_n_heads, DI = c.index_head_dim;
  float* iq = nullptr;
  float* iw = nullptr;
  if (aw.has_indexer) {
    iq = Grow(s.iq, T * HI * DI);
    FM_OP(be->Linear({&aw.idx_wq_b, cq, T, iq}));
    FM_OP(be->Rope(RopeFor(iq, a, HI, DI, r, inv_freq, false)));
    FM_OP(be->Hadamard({iq, T * HI, DI}));
    iw = Grow(s.iw, T * HI);
    FM_OP(be->Linear({&aw.idx_weights_proj, h, T, iw}));
    const float wscale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(DI) * HI));
    for (int64_t i = 0; i < T * HI; ++i) iw[i] *= wscale;
    FM_RETURN_IF_ERROR(CompressorForward(a, aw.idx_compressor, st.idx_comp, st.index_keys, true, h));
  }

  float* o = Grow(s.o, T * H * D);
  const int64_t p0 = a.positions[0];
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  if (static_cast<int64_t>(s.gather.size()) < kQueryBlock) {
    s.gather.resize(kQueryBlock);
    s.iscores.resize(kQueryBlock);
    s.sources.resize(kQueryBlock);
    s.n_gathered.resize(kQueryBlock);
  }
  std::atomic<bool> op_failed{false};
  for (int64_t b0 = 0; b0 < T; b0 += kQueryBlock) {
    const int64_t nb = std::min(kQueryBlock, T - b0);
    // Entries each query may see: window max(0, p-W+1)..p and compressed j < floor((p+1)/m).
    auto n_comp_of = [&](int64_t i) {
      return aw.has_compressor ? (a.positions[b0 + i] + 1) / w.ratio : int64_t{0};
    };
    // Level-2 candidates: every entry, or only the resident ones when a set is in effect (spec
    // §5.3). Scores are computed for all entries and non-resident ones masked before the top-k.
    const Level2Restriction* rs = aw.has_indexer ? a.resident : nullptr;
    int64_t* n_cand = Grow(s.n_cand, nb);
    for (int64_t i = 0; i < nb; ++i) n_cand[i] = rs ? rs->count_below(n_comp_of(i)) : n_comp_of(i);
    auto n_sel_of = [&](int64_t i) {
      return aw.has_indexer ? std::min(c.index_topk, n_cand[i]) : n_comp_of(i);
    };
    // Phase A0: indexer scores, split over (query, key block) so one decode query uses every core.
    int64_t* task_end = Grow(s.task_end, nb);
    int64_t n_tasks = 0;
    for (int64_t i = 0; i < nb; ++i) {
      // A traced query is always scored: label generation votes on its full logits row.
      const bool scored =
          aw.has_indexer && (n_sel_of(i) < n_cand[i] || (a.trace_indexer && b0 + i == T - 1));
      if (scored) Grow(s.iscores[static_cast<size_t>(i)], n_comp_of(i));
      n_tasks += scored ? (n_comp_of(i) + kKeyBlock - 1) / kKeyBlock : 0;
      task_end[i] = n_tasks;
    }
    ParallelOrInline(pool, n_tasks, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        int64_t i = 0;
        while (task_end[i] <= k) ++i;
        const int64_t first_task = i == 0 ? 0 : task_end[i - 1];
        const int64_t j0 = (k - first_task) * kKeyBlock;
        const int64_t j1 = std::min(j0 + kKeyBlock, n_comp_of(i));
        const int64_t t = b0 + i;
        if (rs != nullptr && rs->count_below(j1) == rs->count_below(j0)) {
          // No resident chunk in this block: nothing to score (score-resident cost, spec §5.3).
          float* block_scores = s.iscores[static_cast<size_t>(i)].data();
          std::fill(block_scores + j0, block_scores + j1, -std::numeric_limits<float>::infinity());
          continue;
        }
        kernels::IndexerScoreParams ip;
        ip.q = iq + t * HI * DI;
        ip.weights = iw + t * HI;
        if (st.index_keys.fp8()) {
          ip.keys_fp8 = st.index_keys.raw(j0);
          ip.key_scales = st.index_keys.raw(j0) + DI;  // the fp32 scale follows each key
          ip.scale_stride = st.index_keys.entry_bytes();
          ip.key_stride = st.index_keys.entry_bytes();
        } else {
          ip.keys_f32 = reinterpret_cast<const float*>(st.index_keys.raw(j0));
          ip.key_stride = DI;
        }
        ip.n_keys = j1 - j0;
        ip.n_heads = HI;
        ip.dim = DI;
        ip.out = s.iscores[static_cast<size_t>(i)].data() + j0;
        if (be->IndexerScore(ip) != kernels::OpStatus::kOk) op_failed = true;
      }
    });
    if (op_failed) return absl::InternalError("attention: IndexerScore rejected its parameters");
    // Phase A1, per query: top-k and the list of entries to gather. Window position pos is coded
    // -(pos + 1), compressed entry j as j.
    ParallelOrInline(pool, nb, [&](int64_t i0, int64_t i1) {
      thread_local std::vector<int32_t> chosen;
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t p = a.positions[b0 + i], lo = std::max<int64_t>(0, p - W + 1);
        const int64_t n_comp = n_comp_of(i), n_sel = n_sel_of(i);
        int64_t* src = Grow(s.sources[static_cast<size_t>(i)], p - lo + 1 + n_sel);
        int64_t n = 0;
        for (int64_t pos = lo; pos <= p; ++pos) src[n++] = -(pos + 1);
        const int64_t first_comp = n;
        const bool trace = a.trace_indexer && aw.has_indexer && b0 + i == T - 1;
        float* scores = s.iscores[static_cast<size_t>(i)].data();
        if (aw.has_indexer && (n_sel < n_cand[i] || trace)) {  // scored in A0
          if (rs != nullptr) {
            for (int64_t j = 0; j < n_comp; ++j) {
              if (!rs->resident(j)) scores[j] = -std::numeric_limits<float>::infinity();
            }
          }
          if (trace) st.trace.scores.assign(scores, scores + n_comp);
        }
        if (aw.has_indexer && n_sel < n_cand[i]) {
          int32_t* sel = Grow(chosen, n_sel);
          if (be->TopK({scores, n_comp, n_sel, sel}) != kernels::OpStatus::kOk) {
            op_failed = true;
            return;
          }
          // Attention is a set operation; ascending order keeps the gather cache-friendly.
          std::sort(sel, sel + n_sel);
          for (int64_t k = 0; k < n_sel; ++k) src[n++] = sel[k];
        } else {
          for (int64_t j = 0; j < n_comp; ++j) {
            if (rs == nullptr || rs->resident(j)) src[n++] = j;
          }
        }
        if (trace) {
          st.trace.position = p;
          st.trace.selected.assign(src + first_comp, src + n);
        }
        s.n_gathered[static_cast<size_t>(i)] = n;
        Grow(s.gather[static_cast<size_t>(i)], n * D);
      }
    });
    if (op_failed) return absl::InternalError("attention: TopK rejected its parameters");
    // Phase A2: dequantise the entries, split over (query, entry block). Under a pool view a CSA
    // layer reads compressed entry j from its cell in the hot pool (the bytes LSA paged in),
    // except entries formed during this call, which only the store holds yet.
    const Level2Restriction* pool_view =
        rs != nullptr && rs->paged() && st.csa_ordinal >= 0 ? rs : nullptr;
    std::atomic<int64_t> unpaged{-1};
    n_tasks = 0;
    for (int64_t i = 0; i < nb; ++i) {
      n_tasks += (s.n_gathered[static_cast<size_t>(i)] + kEntryBlock - 1) / kEntryBlock;
      task_end[i] = n_tasks;
    }
    ParallelOrInline(pool, n_tasks, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        int64_t i = 0;
        while (task_end[i] <= k) ++i;
        const int64_t e0 = (k - (i == 0 ? 0 : task_end[i - 1])) * kEntryBlock;
        const int64_t e1 = std::min(e0 + kEntryBlock, s.n_gathered[static_cast<size_t>(i)]);
        const int64_t* src = s.sources[static_cast<size_t>(i)].data();
        float* g = s.gather[static_cast<size_t>(i)].data();
        for (int64_t e = e0; e < e1; ++e) {
          if (src[e] >= 0 && pool_view != nullptr && src[e] < n_stored_before) {
            const uint8_t* cell = pool_view->cell(st.csa_ordinal, src[e]);
            if (cell == nullptr) {
              unpaged = src[e];
              continue;
            }
            st.compressed.Decode(cell, g + e * D);
          } else if (src[e] >= 0) {
            st.compressed.Load(src[e], g + e * D);
          } else if (const int64_t pos = -src[e] - 1; pos >= p0) {
            st.chunk.Load(pos - p0, g + e * D);
          } else {
            st.window.Load(pos % W, g + e * D);
          }
        }
      }
    });
    if (unpaged >= 0) {
      return absl::InternalError(absl::StrCat("attention: compressed entry ", unpaged.load(),
                                              " was picked but its page has no slot in the pool",
                                              " view"));
    }
    // Phase B: one softmax (with the sink) per (query, head) pair.
    ParallelOrInline(pool, nb * H, [&](int64_t k0, int64_t k1) {
      thread_local std::vector<float> logits;
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t i = k / H, head = k % H, t = b0 + i;
        const int64_t n = s.n_gathered[static_cast<size_t>(i)];
        kernels::SinkAttentionParams sp;
        sp.q = q + t * H * D;
        sp.kv = s.gather[static_cast<size_t>(i)].data();
        sp.sink = aw.attn_sink.data();
        sp.n_kv = n;
        sp.n_heads = H;
        sp.head_dim = D;
        sp.head_begin = head;
        sp.head_end = head + 1;
        sp.scale = scale;
        sp.out = o + t * H * D;
        sp.scratch = Grow(logits, n);
        if (be->SinkAttention(sp) != kernels::OpStatus::kOk) op_failed = true;
      }
    });
    if (op_failed) return absl::InternalError("attention: SinkAttention rejected its parameters");
  }
  if (a.trace_indexer && aw.has_indexer) st.trace_valid = true;
  // The ring keeps the last W window entries for later chunks.
  for (int64_t t = std::max<int64_t>(0, T - W); t < T; ++t) {
    st.window.CopyEntry(st.chunk, t, a.positions[t] % W);
  }

  // V = K carried RoPE into o; undo it, then the grouped low-rank output projection.
  FM_OP(be->Rope(RopeFor(o, a, H, D, r, inv_freq, true)));
  const int64_t G = c.o_groups, R = c.o_lora_rank, gw = H * D / G;
  float* gin = Grow(s.group_in, T * gw);
  float* gout = Grow(s.group_out, T * R);
  float* low = Grow(s.o_low, T * G * R);
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t t = 0; t < T; ++t) std::copy_n(o + t * H * D + g * gw, gw, gin + t * gw);
    FM_OP(be->Linear({&aw.wo_a_groups[static_cast<size_t>(g)], gin, T, gout}));
    for (int64_t t = 0; t < T; ++t) std::copy_n(gout + t * R, R, low + t * G * R + g * R);
  }
  FM_OP(be->Linear({&aw.wo_b, low, T, out}));
  return absl::OkStatus();
}

}  // namespace fm::rt
