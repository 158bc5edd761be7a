#include "kernels/cpu/ops_hc.h"

#include <algorithm>
#include <cmath>

namespace fm::kernels::cpu {
namespace {

// Stack bound on the mix count: (2 + n_hc) * n_hc <= 255 covers n_hc <= 14 (Flash: 4).
constexpr int64_t kMaxMix = 255;

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

void SinkhornProject(float* c, int64_t n, int64_t iters, float eps) {
  for (int64_t i = 0; i < n; ++i) {
    float* row = c + i * n;
    const float mx = *std::max_element(row, row + n);
    float sum = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      row[j] = std::exp(row[j] - mx);
      sum += row[j];
    }
    for (int64_t j = 0; j < n; ++j) row[j] = row[j] / sum + eps;
  }
  auto normalise_cols = [&] {
    for (int64_t j = 0; j < n; ++j) {
      float sum = 0.0f;
      for (int64_t i = 0; i < n; ++i) sum += c[i * n + j];
      for (int64_t i = 0; i < n; ++i) c[i * n + j] /= (sum + eps);
    }
  };
  auto normalise_rows = [&] {
    for (int64_t i = 0; i < n; ++i) {
      float sum = 0.0f;
      for (int64_t j = 0; j < n; ++j) sum += c[i * n + j];
      for (int64_t j = 0; j < n; ++j) c[i * n + j] /= (sum + eps);
    }
  };
  normalise_cols();
  for (int64_t it = 1; it < iters; ++it) {
    normalise_rows();
    normalise_cols();
  }
}

OpStatus HcPre(const HcPreParams& p, ThreadPool* pool) {
  const bool sublayer = p.post != nullptr;
  if (p.x == nullptr || p.mixes_raw == nullptr || p.scale == nullptr || p.base == nullptr ||
      p.y == nullptr || p.n_rows < 0 || p.n_hc <= 0 || p.dim <= 0 ||
      (sublayer && (p.comb == nullptr || p.n_mix != (2 + p.n_hc) * p.n_hc)) ||
      (!sublayer && p.n_mix != p.n_hc) || p.n_mix > kMaxMix) {
    return OpStatus::kBadParams;
  }
  auto rows = [&](int64_t r0, int64_t r1) {
    float mix[kMaxMix];
    float pre[kMaxMix];
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = p.x + r * p.n_hc * p.dim;
      const int64_t flat = p.n_hc * p.dim;
      double ss = 0.0;
      for (int64_t i = 0; i < flat; ++i) ss += static_cast<double>(x[i]) * x[i];
      const float rho = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(flat) + p.norm_eps));
      for (int64_t k = 0; k < p.n_mix; ++k) mix[k] = p.mixes_raw[r * p.n_mix + k] * rho;
      for (int64_t i = 0; i < p.n_hc; ++i) {
        pre[i] = Sigmoid(mix[i] * p.scale[0] + p.base[i]) + p.hc_eps;
      }
      float* y = p.y + r * p.dim;
      for (int64_t d = 0; d < p.dim; ++d) {
        float acc = 0.0f;
        for (int64_t i = 0; i < p.n_hc; ++i) acc += pre[i] * x[i * p.dim + d];
        y[d] = acc;
      }
      if (!sublayer) continue;
      for (int64_t i = 0; i < p.n_hc; ++i) {
        const int64_t k = p.n_hc + i;
        p.post[r * p.n_hc + i] = 2.0f * Sigmoid(mix[k] * p.scale[1] + p.base[k]);
      }
      float* comb = p.comb + r * p.n_hc * p.n_hc;
      for (int64_t k = 0; k < p.n_hc * p.n_hc; ++k) {
        const int64_t m = 2 * p.n_hc + k;
        comb[k] = mix[m] * p.scale[2] + p.base[m];
      }
      SinkhornProject(comb, p.n_hc, p.sinkhorn_iters, p.hc_eps);
    }
  };
  ParallelForOrInline(pool, p.n_rows, 1, rows);
  return OpStatus::kOk;
}

OpStatus HcPost(const HcPostParams& p, ThreadPool* pool) {
  if (p.y == nullptr || p.residual == nullptr || p.post == nullptr || p.comb == nullptr ||
      p.out == nullptr || p.out == p.residual || p.n_rows < 0 || p.n_hc <= 0 || p.dim <= 0) {
    return OpStatus::kBadParams;
  }
  auto rows = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* y = p.y + r * p.dim;
      const float* res = p.residual + r * p.n_hc * p.dim;
      const float* comb = p.comb + r * p.n_hc * p.n_hc;
      for (int64_t j = 0; j < p.n_hc; ++j) {
        float* out = p.out + (r * p.n_hc + j) * p.dim;
        const float post = p.post[r * p.n_hc + j];
        for (int64_t d = 0; d < p.dim; ++d) {
          float acc = post * y[d];
          for (int64_t i = 0; i < p.n_hc; ++i) acc += comb[i * p.n_hc + j] * res[i * p.dim + d];
          out[d] = acc;
        }
      }
    }
  };
  ParallelForOrInline(pool, p.n_rows, 1, rows);
  return OpStatus::kOk;
}

}  // namespace fm::kernels::cpu
