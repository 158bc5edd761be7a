#include "runtime/lsa/train/train_init.h"

#include <cmath>

#include "runtime/lsa/train/sampling.h"

namespace fm::rt::train {
namespace {

// U(-bound, bound) from the generator's raw bits (reproducible across standard libraries).
float Uniform(std::mt19937_64& rng, double bound) {
  const double u = static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
  return static_cast<float>((2.0 * u - 1.0) * bound);
}

}  // namespace

void InitPaddingLikeTorch(MemoryIndexer* indexer, int64_t native_heads, int64_t native_rank,
                          uint64_t seed) {
  const ModelConfig& c = indexer->config();
  const int64_t d = c.hidden_size, DI = c.index_head_dim;
  for (int64_t t = 0; t < indexer->n_targets(); ++t) {
    RetrieverWeights& w = indexer->mutable_target(t);
    const int64_t H = w.n_heads, R = w.rank;
    if (H <= native_heads && R <= native_rank) continue;
    std::mt19937_64 rng = DerivedRng(seed, 0x1417, static_cast<uint64_t>(w.csa_index), 0);
    const double bound_a = 1.0 / std::sqrt(static_cast<double>(d));
    const double bound_b = 1.0 / std::sqrt(static_cast<double>(R));
    for (int64_t r = native_rank; r < R; ++r) {
      for (int64_t i = 0; i < d; ++i) w.wq_a[static_cast<size_t>(r * d + i)] = Uniform(rng, bound_a);
    }
    // FromNative scaled the copied q_norm dims by sqrt(native_rank / R) to cancel the zero rows;
    // with real rows the reference copies q_norm unchanged.
    const float undo = static_cast<float>(std::sqrt(static_cast<double>(R) / native_rank));
    for (int64_t r = 0; r < native_rank; ++r) w.q_norm[static_cast<size_t>(r)] *= undo;
    for (int64_t row = 0; row < H * DI; ++row) {
      const bool padded_head = row >= native_heads * DI;
      for (int64_t r = padded_head ? 0 : native_rank; r < R; ++r) {
        w.wq_b[static_cast<size_t>(row * R + r)] = Uniform(rng, bound_b);
      }
    }
    for (int64_t h = native_heads; h < H; ++h) {
      for (int64_t i = 0; i < d; ++i) w.weights_proj[static_cast<size_t>(h * d + i)] = Uniform(rng, bound_a);
    }
  }
}

}  // namespace fm::rt::train
