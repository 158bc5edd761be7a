#include "runtime/lsa/train/sampling.h"

#include <algorithm>
#include <cmath>

namespace fm::rt::train {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform integer in [0, n) (n > 0) from the raw generator: the same stream on every standard
// library, unlike std::uniform_int_distribution.
int64_t UniformBelow(std::mt19937_64& rng, int64_t n) {
  const uint64_t un = static_cast<uint64_t>(n);
  const uint64_t limit = UINT64_MAX - UINT64_MAX % un;
  uint64_t x;
  do {
    x = rng();
  } while (x >= limit);
  return static_cast<int64_t>(x % un);
}

// k distinct elements of `pool` (k <= size), by a partial Fisher-Yates shuffle in place.
void TakeRandom(std::vector<int32_t>* pool, int64_t k, std::mt19937_64& rng) {
  const int64_t n = static_cast<int64_t>(pool->size());
  for (int64_t i = 0; i < k; ++i) {
    std::swap((*pool)[static_cast<size_t>(i)],
              (*pool)[static_cast<size_t>(i + UniformBelow(rng, n - i))]);
  }
  pool->resize(static_cast<size_t>(k));
}

}  // namespace

void Shuffle(std::vector<int64_t>* v, std::mt19937_64& rng) {
  for (int64_t i = static_cast<int64_t>(v->size()) - 1; i > 0; --i) {
    std::swap((*v)[static_cast<size_t>(i)], (*v)[static_cast<size_t>(UniformBelow(rng, i + 1))]);
  }
}

std::mt19937_64 DerivedRng(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  uint64_t s = SplitMix(seed);
  s = SplitMix(s ^ a);
  s = SplitMix(s ^ b);
  s = SplitMix(s ^ c);
  return std::mt19937_64(s);
}

void MarkTrivialChunks(DocumentLabels* labels, double fraction) {
  std::vector<int64_t> count(static_cast<size_t>(labels->n_chunks), 0);
  for (int32_t c : labels->chunks) {
    if (c >= 0 && c < labels->n_chunks) ++count[static_cast<size_t>(c)];
  }
  labels->trivial.assign(static_cast<size_t>(labels->n_chunks), 0);
  const double limit = fraction * static_cast<double>(labels->n_tokens());
  for (size_t j = 0; j < count.size(); ++j) {
    labels->trivial[j] = static_cast<double>(count[j]) > limit ? 1 : 0;
  }
}

std::vector<int32_t> WindowPositives(const DocumentLabels& labels, int64_t t, int64_t tau,
                                     int64_t limit) {
  const int64_t end = std::min(labels.n_tokens(), t + tau);
  std::vector<int32_t> out;
  for (int64_t u = t; u < end; ++u) {
    for (int64_t i = labels.ptr[static_cast<size_t>(u)]; i < labels.ptr[static_cast<size_t>(u + 1)];
         ++i) {
      const int32_t c = labels.chunks[static_cast<size_t>(i)];
      if (limit < 0 || c < limit) out.push_back(c);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool IsTrainableToken(const DocumentLabels& labels, int64_t t, int64_t tau) {
  if (labels.visible[static_cast<size_t>(t)] <= 0) return false;
  const int64_t end = std::min(labels.n_tokens(), t + tau);
  return labels.ptr[static_cast<size_t>(end)] > labels.ptr[static_cast<size_t>(t)];
}

void BuildTrainSample(const DocumentLabels& labels, int64_t t, const SamplingOptions& options,
                      std::mt19937_64& rng, SampleEntries* out) {
  const int64_t visible = labels.visible[static_cast<size_t>(t)];
  const std::vector<int32_t> window = WindowPositives(labels, t, options.tau, -1);
  std::vector<int32_t> pos;
  for (int32_t c : window) {
    if (c < visible) pos.push_back(c);
  }
  out->pseudo_positive = pos.empty();
  if (pos.empty()) pos.push_back(static_cast<int32_t>(UniformBelow(rng, visible)));
  if (static_cast<int64_t>(pos.size()) > options.max_pos) {
    TakeRandom(&pos, options.max_pos, rng);
    std::sort(pos.begin(), pos.end());
  }
  // Negatives: visible chunks that are neither window positives nor the pseudo-positive.
  std::vector<uint8_t> excluded(static_cast<size_t>(visible), 0);
  for (int32_t c : window) {
    if (c < visible) excluded[static_cast<size_t>(c)] = 1;
  }
  for (int32_t c : pos) excluded[static_cast<size_t>(c)] = 1;
  std::vector<int32_t> candidates;
  candidates.reserve(static_cast<size_t>(visible));
  for (int32_t j = 0; j < visible; ++j) {
    if (!excluded[static_cast<size_t>(j)]) candidates.push_back(j);
  }
  const int64_t want = static_cast<int64_t>(
      std::llround(options.neg_ratio * static_cast<double>(pos.size())));
  TakeRandom(&candidates, std::min<int64_t>(want, static_cast<int64_t>(candidates.size())), rng);

  out->n_pos = static_cast<int64_t>(pos.size());
  out->chunks = pos;
  out->chunks.insert(out->chunks.end(), candidates.begin(), candidates.end());
  out->labels.assign(out->chunks.size(), 0.0f);
  out->weights.assign(out->chunks.size(), 1.0f);
  for (size_t i = 0; i < pos.size(); ++i) {
    out->labels[i] = 1.0f;
    const int32_t c = pos[i];
    if (c < static_cast<int32_t>(labels.trivial.size()) && labels.trivial[static_cast<size_t>(c)]) {
      out->weights[i] = options.trivial_weight;
    }
  }
}

}  // namespace fm::rt::train
