#pragma once
// Training and validation samples from per-token golden sets (spec §8 "Samples" and "Weights").
// A sample is one (document, decode token t). Its positives are the union of the golden chunks of
// the tau-token look-ahead window [t, t + tau - 1] (the set Level 1 must keep resident for the
// cycle it predicts), restricted to the chunks visible at t; its negatives are drawn uniformly from
// the visible chunks that are not positives of the window.

#include <cstdint>
#include <random>
#include <vector>

namespace fm::rt::train {

// The label side of one document: per-token golden chunks in CSR form.
struct DocumentLabels {
  int64_t n_chunks = 0;           // index keys stored per target (prompt + response chunks)
  std::vector<int64_t> positions; // [T] absolute position of decode token t
  std::vector<int64_t> visible;   // [T] chunks visible at t (stored before t's Level-1 scoring)
  std::vector<int64_t> ptr;       // [T + 1] CSR row pointers into `chunks`
  std::vector<int32_t> chunks;    // golden chunk ids
  std::vector<uint8_t> trivial;   // [n_chunks] golden in more than the trivial fraction of tokens

  int64_t n_tokens() const { return static_cast<int64_t>(positions.size()); }
};

struct SamplingOptions {
  int64_t tau = 64;               // look-ahead window in tokens
  int64_t max_pos = 512;          // positives per sample, sub-sampled above this
  double neg_ratio = 3.0;         // negatives per positive
  double trivial_fraction = 0.8;  // golden in more than this fraction of tokens -> trivial
  float trivial_weight = 0.5f;    // loss weight of trivial positives
};

// Sets labels->trivial from the per-token golden sets.
void MarkTrivialChunks(DocumentLabels* labels, double fraction);

// Sorted unique golden chunks of tokens [t, min(t + tau, T) - 1], all of them (limit < 0) or only
// those < limit.
std::vector<int32_t> WindowPositives(const DocumentLabels& labels, int64_t t, int64_t tau,
                                     int64_t limit);

// One sample's scored entries: chunk ids with label (1 / 0) and loss weight.
struct SampleEntries {
  std::vector<int32_t> chunks;
  std::vector<float> labels;
  std::vector<float> weights;
  int64_t n_pos = 0;
  bool pseudo_positive = false;  // no visible positive: one random chunk stands in (spec §8)
};

// Whether token t makes a training sample: something is visible and its window has a label.
bool IsTrainableToken(const DocumentLabels& labels, int64_t t, int64_t tau);

// Builds the entries of token t: positives (sub-sampled to max_pos without replacement, weight 1
// or trivial_weight), then round(neg_ratio * |pos|) negatives without replacement (fewer when the
// visible chunks run out). Deterministic given the rng state.
void BuildTrainSample(const DocumentLabels& labels, int64_t t, const SamplingOptions& options,
                      std::mt19937_64& rng, SampleEntries* out);

// Shuffles `v` in place with the generator's raw output (the same order on every standard library).
void Shuffle(std::vector<int64_t>* v, std::mt19937_64& rng);

// A generator seeded from (seed, a, b, c) with SplitMix64 mixing: every sample's randomness
// depends only on these, so an interrupted run that resumes draws exactly the same samples.
std::mt19937_64 DerivedRng(uint64_t seed, uint64_t a, uint64_t b, uint64_t c);

}  // namespace fm::rt::train
