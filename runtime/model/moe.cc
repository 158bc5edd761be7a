// The MoE sublayer (V4_FLASH_LSA.md §2.7): router scores, hash or bias-corrected top-k routing,
// routed experts with clamped SwiGLU (tokens grouped by expert, one batched Linear per expert
// weight), plus the shared expert.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/model/forward.h"
#include "runtime/model/moe_routing.h"

namespace fm::rt {
namespace {

// silu(min(w1 x, limit)) * clamp(w3 x) * row_scale, then w2: out [n][d].
absl::Status ExpertForward(const ForwardArgs& a, const ExpertWeights& e, const float* x, int64_t n,
                           const float* row_scale, float* out) {
  const ModelConfig& c = a.model->config();
  kernels::KernelBackend* be = a.model->backend();
  Scratch& s = *a.scratch;
  const int64_t inter = e.w1.rows;
  float* gate = Grow(s.ex_gate, n * inter);
  float* up = Grow(s.ex_up, n * inter);
  FM_OP(be->Linear({&e.w1, x, n, gate}));
  FM_OP(be->Linear({&e.w3, x, n, up}));
  FM_OP(be->Swiglu({gate, up, row_scale, n, inter, static_cast<float>(c.swiglu_limit), gate}));
  FM_OP(be->Linear({&e.w2, gate, n, out}));
  return absl::OkStatus();
}

}  // namespace

absl::Status MoeForward(const ForwardArgs& a, const MoeWeights& w, const float* h, float* out) {
  const ModelConfig& c = a.model->config();
  kernels::KernelBackend* be = a.model->backend();
  Scratch& s = *a.scratch;
  const int64_t T = a.n_rows, d = c.hidden_size, E = c.n_routed_experts, k = c.num_experts_per_tok;

  float* router = Grow(s.router, T * E);
  FM_OP(be->Linear({&w.gate, h, T, router}));
  kernels::RouteParams rp = MoeRouteParams(c, router, T);
  if (w.hash) {
    int32_t* rows = Grow(s.hash_rows, T * k);
    for (int64_t t = 0; t < T; ++t) {
      std::copy_n(w.tid2eid.data() + static_cast<int64_t>(a.tokens[t]) * k, k, rows + t * k);
    }
    rp.hash_experts = rows;
  } else {
    rp.bias = w.gate_bias.empty() ? nullptr : w.gate_bias.data();
  }
  rp.experts = Grow(s.route_e, T * k);
  rp.weights = Grow(s.route_w, T * k);
  FM_OP(be->Route(rp));

  // Group (token, slot) pairs by expert, tokens ascending inside each expert.
  int64_t* count = Grow(s.ex_count, E + 1);
  std::fill(count, count + E + 1, 0);
  for (int64_t i = 0; i < T * k; ++i) ++count[rp.experts[i] + 1];
  for (int64_t e = 0; e < E; ++e) count[e + 1] += count[e];
  int64_t* offset = Grow(s.ex_offset, E);
  std::copy_n(count, E, offset);
  int32_t* rows = Grow(s.ex_rows, T * k);
  for (int64_t i = 0; i < T * k; ++i) rows[offset[rp.experts[i]]++] = static_cast<int32_t>(i);

  std::fill(out, out + T * d, 0.0f);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t n = count[e + 1] - count[e];
    if (n == 0) continue;
    float* xin = Grow(s.ex_in, n * d);
    float* scale = Grow(s.ex_scale, n);
    for (int64_t r = 0; r < n; ++r) {
      const int32_t pair = rows[count[e] + r];
      std::copy_n(h + (pair / k) * d, d, xin + r * d);
      scale[r] = rp.weights[pair];
    }
    float* eout = Grow(s.ex_out, n * d);
    FM_RETURN_IF_ERROR(ExpertForward(a, w.experts[static_cast<size_t>(e)], xin, n, scale, eout));
    for (int64_t r = 0; r < n; ++r) {
      float* dst = out + (rows[count[e] + r] / k) * d;
      const float* src = eout + r * d;
      for (int64_t i = 0; i < d; ++i) dst[i] += src[i];
    }
  }
  if (w.has_shared) {
    float* eout = Grow(s.ex_out, T * d);
    FM_RETURN_IF_ERROR(ExpertForward(a, w.shared, h, T, nullptr, eout));
    for (int64_t i = 0; i < T * d; ++i) out[i] += eout[i];
  }
  return absl::OkStatus();
}

}  // namespace fm::rt
