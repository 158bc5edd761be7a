#include "kernels/cpu/ops_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/dequant_avx2.h"
#include "kernels/cpu/ops_kv_quant.h"
#include "kernels/numeric_formats.h"

namespace fm::kernels::cpu {
namespace {

// q . k with the vector unit when present. The summation order depends only on n and the CPU,
// never on which query, thread or chunk asks, so prefill and decode stay identical.
float Dot(const float* a, const float* b, int64_t n) {
  static const bool kAvx2 = HaveAvx2();
  if (kAvx2) return DotAvx2(a, b, n);
  float acc = 0.0f;
  for (int64_t d = 0; d < n; ++d) acc += a[d] * b[d];
  return acc;
}

}  // namespace

OpStatus SoftmaxPool(const SoftmaxPoolParams& p) {
  if (p.values == nullptr || p.scores == nullptr || p.out == nullptr || p.n_slots <= 0 ||
      p.dim <= 0) {
    return OpStatus::kBadParams;
  }
  for (int64_t d = 0; d < p.dim; ++d) {
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t s = 0; s < p.n_slots; ++s) mx = std::max(mx, p.scores[s * p.dim + d]);
    float denom = 0.0f, acc = 0.0f;
    for (int64_t s = 0; s < p.n_slots; ++s) {
      const float sc = p.scores[s * p.dim + d];
      if (sc == -std::numeric_limits<float>::infinity()) continue;  // masked slot
      const float e = std::exp(sc - mx);
      denom += e;
      acc += e * p.values[s * p.dim + d];
    }
    p.out[d] = acc / denom;
  }
  return OpStatus::kOk;
}

OpStatus SinkAttention(const SinkAttentionParams& p) {
  if (p.q == nullptr || p.kv == nullptr || p.sink == nullptr || p.out == nullptr ||
      p.scratch == nullptr || p.n_kv <= 0 || p.head_dim <= 0 || p.head_begin < 0 ||
      p.head_end > p.n_heads || p.head_begin > p.head_end) {
    return OpStatus::kBadParams;
  }
  for (int64_t h = p.head_begin; h < p.head_end; ++h) {
    const float* q = p.q + h * p.head_dim;
    float mx = -std::numeric_limits<float>::infinity();
    for (int64_t s = 0; s < p.n_kv; ++s) {
      p.scratch[s] = Dot(q, p.kv + s * p.head_dim, p.head_dim) * p.scale;
      mx = std::max(mx, p.scratch[s]);
    }
    float denom = 0.0f;
    for (int64_t s = 0; s < p.n_kv; ++s) {
      p.scratch[s] = std::exp(p.scratch[s] - mx);
      denom += p.scratch[s];
    }
    // The sink is one more logit with a zero value vector: it only enlarges the denominator.
    denom += std::exp(p.sink[h] - mx);
    const float inv = 1.0f / denom;
    float* o = p.out + h * p.head_dim;
    std::fill(o, o + p.head_dim, 0.0f);
    for (int64_t s = 0; s < p.n_kv; ++s) {
      const float w = p.scratch[s] * inv;
      const float* k = p.kv + s * p.head_dim;
      for (int64_t d = 0; d < p.head_dim; ++d) o[d] += w * k[d];
    }
  }
  return OpStatus::kOk;
}

OpStatus IndexerScore(const IndexerScoreParams& p) {
  const bool f32 = p.keys_f32 != nullptr;
  if (p.q == nullptr || p.weights == nullptr || p.out == nullptr || p.n_keys < 0 ||
      p.n_heads <= 0 || p.dim <= 0 || f32 == (p.keys_fp8 != nullptr) ||
      (!f32 && p.key_scales == nullptr) || p.key_stride < p.dim) {
    return OpStatus::kBadParams;
  }
  constexpr int64_t kMaxDim = 1024;
  if (p.dim > kMaxDim) return OpStatus::kBadParams;
  float key[kMaxDim];
  const float* lut = E4m3Table();
  for (int64_t j = 0; j < p.n_keys; ++j) {
    const float* k = key;
    float key_scale = 1.0f;
    if (f32) {
      k = p.keys_f32 + j * p.key_stride;
    } else {
      const uint8_t* b = p.keys_fp8 + j * p.key_stride;
      for (int64_t d = 0; d < p.dim; ++d) key[d] = lut[b[d]];
      std::memcpy(&key_scale, p.key_scales + j * p.scale_stride, 4);
    }
    float score = 0.0f;
    for (int64_t h = 0; h < p.n_heads; ++h) {
      // A positive key scale commutes with the ReLU.
      const float dot = Dot(p.q + h * p.dim, k, p.dim) * key_scale;
      if (dot > 0.0f) score += p.weights[h] * dot;
    }
    p.out[j] = score;
  }
  return OpStatus::kOk;
}

OpStatus TopK(const TopKParams& p) {
  if (p.scores == nullptr || p.out == nullptr || p.n < 0 || p.k < 0 || p.k > p.n ||
      p.n > std::numeric_limits<int32_t>::max()) {
    return OpStatus::kBadParams;
  }
  // A bounded selection with a heap of k indices kept in `out`: no scratch, O(n log k).
  auto better = [&](int32_t a, int32_t b) {
    const float sa = p.scores[a], sb = p.scores[b];
    if (sa != sb) return sa > sb;
    return a < b;
  };
  int64_t size = 0;
  // out[0..size) is a heap whose top is the worst kept index (std heaps keep the "largest" under
  // the comparator on top, and `better` orders better indices first).
  auto worse_first = better;
  for (int64_t i = 0; i < p.n && p.k > 0; ++i) {
    const int32_t idx = static_cast<int32_t>(i);
    if (size < p.k) {
      p.out[size++] = idx;
      std::push_heap(p.out, p.out + size, worse_first);
    } else if (better(idx, p.out[0])) {
      std::pop_heap(p.out, p.out + size, worse_first);
      p.out[size - 1] = idx;
      std::push_heap(p.out, p.out + size, worse_first);
    }
  }
  std::sort(p.out, p.out + size, better);
  return OpStatus::kOk;
}

}  // namespace fm::kernels::cpu
