#include "kernels/cpu/ops_norm.h"

#include <algorithm>
#include <cmath>

namespace fm::kernels::cpu {
OpStatus RmsNorm(const RmsNormParams& p, ThreadPool* pool) {
  if (p.x == nullptr || p.y == nullptr || p.n_rows < 0 || p.dim <= 0) return OpStatus::kBadParams;
  ParallelForOrInline(pool, p.n_rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = p.x + r * p.dim;
      float* y = p.y + r * p.dim;
      // Accumulate in double: the reference reduces in fp32 with pairwise sums; double keeps this
      // independent of vector width and thread count.
      double ss = 0.0;
      for (int64_t i = 0; i < p.dim; ++i) ss += static_cast<double>(x[i]) * x[i];
      const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(p.dim) + p.eps));
      if (p.weight != nullptr) {
        for (int64_t i = 0; i < p.dim; ++i) y[i] = p.weight[i] * (x[i] * inv);
      } else {
        for (int64_t i = 0; i < p.dim; ++i) y[i] = x[i] * inv;
      }
    }
  });
  return OpStatus::kOk;
}

OpStatus Rope(const RopeParams& p, ThreadPool* pool) {
  if (p.x == nullptr || p.positions == nullptr || p.inv_freq == nullptr || p.n_rows < 0 ||
      p.n_heads <= 0 || p.n_pairs < 0 || p.rope_offset < 0 ||
      p.rope_offset + 2 * p.n_pairs > p.head_stride) {
    return OpStatus::kBadParams;
  }
  ParallelForOrInline(pool, p.n_rows, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float pos = static_cast<float>(p.positions[r]);
      for (int64_t i = 0; i < p.n_pairs; ++i) {
        // The angle is one fp32 product, like the reference's outer(t, freqs) in fp32.
        const float angle = pos * p.inv_freq[i];
        const float c = static_cast<float>(std::cos(static_cast<double>(angle)));
        float s = static_cast<float>(std::sin(static_cast<double>(angle)));
        if (p.inverse) s = -s;
        for (int64_t h = 0; h < p.n_heads; ++h) {
          float* v = p.x + (r * p.n_heads + h) * p.head_stride + p.rope_offset + 2 * i;
          const float a = v[0], b = v[1];
          v[0] = a * c - b * s;
          v[1] = a * s + b * c;
        }
      }
    }
  });
  return OpStatus::kOk;
}

OpStatus Hadamard(const HadamardParams& p, ThreadPool* pool) {
  if (p.x == nullptr || p.n_vectors < 0 || p.dim <= 0 || (p.dim & (p.dim - 1)) != 0) {
    return OpStatus::kBadParams;
  }
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.dim)));
  ParallelForOrInline(pool, p.n_vectors, 16, [&](int64_t v0, int64_t v1) {
    for (int64_t v = v0; v < v1; ++v) {
      float* x = p.x + v * p.dim;
      // Butterflies in Sylvester order: H_2n = [[H, H], [H, -H]].
      for (int64_t h = 1; h < p.dim; h *= 2) {
        for (int64_t i = 0; i < p.dim; i += 2 * h) {
          for (int64_t j = i; j < i + h; ++j) {
            const float a = x[j], b = x[j + h];
            x[j] = a + b;
            x[j + h] = a - b;
          }
        }
      }
      for (int64_t i = 0; i < p.dim; ++i) x[i] *= scale;
    }
  });
  return OpStatus::kOk;
}

void ComputeRopeInvFreq(int64_t rope_dims, double base, int64_t original_seq_len, double factor,
                        double beta_fast, double beta_slow, float* inv_freq) {
  const int64_t n_pairs = rope_dims / 2;
  const float fdim = static_cast<float>(rope_dims);
  for (int64_t i = 0; i < n_pairs; ++i) {
    const float expo = static_cast<float>(2 * i) / fdim;
    const float powv = static_cast<float>(std::pow(static_cast<double>(static_cast<float>(base)),
                                                   static_cast<double>(expo)));
    inv_freq[i] = 1.0f / powv;
  }
  if (original_seq_len <= 0) return;
  // Correction dim of a rotation count: the dim whose wavelength fits num_rotations times into
  // the original context.
  auto correction_dim = [&](double num_rotations) {
    return static_cast<double>(rope_dims) *
           std::log(static_cast<double>(original_seq_len) / (num_rotations * 2.0 * M_PI)) /
           (2.0 * std::log(base));
  };
  double low = std::floor(correction_dim(beta_fast));
  double high = std::ceil(correction_dim(beta_slow));
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(rope_dims - 1));
  float lo = static_cast<float>(low), hi = static_cast<float>(high);
  if (lo == hi) hi += 0.001f;
  const float ffactor = static_cast<float>(factor);
  for (int64_t i = 0; i < n_pairs; ++i) {
    float ramp = (static_cast<float>(i) - lo) / (hi - lo);
    ramp = std::clamp(ramp, 0.0f, 1.0f);
    const float smooth = 1.0f - ramp;
    inv_freq[i] = inv_freq[i] / ffactor * (1.0f - smooth) + inv_freq[i] * smooth;
  }
}

}  // namespace fm::kernels::cpu
