#include "kernels/cpu/ops_moe.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/ops_attention.h"

namespace fm::kernels::cpu {
namespace {

// Bounds for the stack buffers (Flash: 256 experts, top-6).
constexpr int64_t kMaxExperts = 4096;
constexpr int64_t kMaxTopK = 64;

float Softplus(float x) {
  // log(1 + e^x) without overflow, as torch computes it (threshold 20: identity above).
  if (x > 20.0f) return x;
  return std::log1p(std::exp(x));
}

}  // namespace

OpStatus Route(const RouteParams& p) {
  if (p.logits == nullptr || p.experts == nullptr || p.weights == nullptr || p.n_rows < 0 ||
      p.n_experts <= 0 || p.n_experts > kMaxExperts || p.k <= 0 || p.k > p.n_experts ||
      p.k > kMaxTopK || p.score_func < 0 || p.score_func > kScoreSoftmax) {
    return OpStatus::kBadParams;
  }
  float scores[kMaxExperts];
  float biased[kMaxExperts];
  for (int64_t r = 0; r < p.n_rows; ++r) {
    const float* lg = p.logits + r * p.n_experts;
    if (p.score_func == kScoreSoftmax) {
      const float mx = *std::max_element(lg, lg + p.n_experts);
      float sum = 0.0f;
      for (int64_t e = 0; e < p.n_experts; ++e) sum += (scores[e] = std::exp(lg[e] - mx));
      for (int64_t e = 0; e < p.n_experts; ++e) scores[e] /= sum;
    } else if (p.score_func == kScoreSigmoid) {
      for (int64_t e = 0; e < p.n_experts; ++e) scores[e] = 1.0f / (1.0f + std::exp(-lg[e]));
    } else {
      for (int64_t e = 0; e < p.n_experts; ++e) scores[e] = std::sqrt(Softplus(lg[e]));
    }
    int32_t* chosen = p.experts + r * p.k;
    if (p.hash_experts != nullptr) {
      for (int64_t i = 0; i < p.k; ++i) {
        const int32_t e = p.hash_experts[r * p.k + i];
        if (e < 0 || e >= p.n_experts) return OpStatus::kBadParams;
        chosen[i] = e;
      }
    } else {
      // The correction bias decides which experts are chosen, never their weights.
      for (int64_t e = 0; e < p.n_experts; ++e) {
        biased[e] = scores[e] + (p.bias != nullptr ? p.bias[e] : 0.0f);
      }
      TopKParams tk;
      tk.scores = biased;
      tk.n = p.n_experts;
      tk.k = p.k;
      tk.out = chosen;
      if (OpStatus s = TopK(tk); s != OpStatus::kOk) return s;
    }
    float* w = p.weights + r * p.k;
    float sum = 0.0f;
    for (int64_t i = 0; i < p.k; ++i) sum += (w[i] = scores[chosen[i]]);
    for (int64_t i = 0; i < p.k; ++i) {
      if (p.renormalise) w[i] /= sum;
      w[i] *= p.route_scale;
    }
  }
  return OpStatus::kOk;
}

OpStatus Swiglu(const SwigluParams& p, ThreadPool* pool) {
  if (p.gate == nullptr || p.up == nullptr || p.out == nullptr || p.n_rows < 0 || p.dim <= 0) {
    return OpStatus::kBadParams;
  }
  auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float rs = p.row_scale != nullptr ? p.row_scale[r] : 1.0f;
      for (int64_t i = r * p.dim; i < (r + 1) * p.dim; ++i) {
        float g = p.gate[i], u = p.up[i];
        if (p.limit > 0.0f) {
          g = std::min(g, p.limit);
          u = std::clamp(u, -p.limit, p.limit);
        }
        const float silu = g / (1.0f + std::exp(-g));
        p.out[i] = silu * u * rs;
      }
    }
  };
  ParallelForOrInline(pool, p.n_rows, 1, rows);
  return OpStatus::kOk;
}

}  // namespace fm::kernels::cpu
