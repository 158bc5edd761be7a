#pragma once
// Token sampling from logits: greedy (temperature 0) or temperature + nucleus (top-p), driven by
// a seeded SplitMix64 generator so a run is reproducible on any platform (no std distributions,
// whose output differs between standard libraries).

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fm::rt {

struct SamplerOptions {
  double temperature = 0.0;  // 0: greedy (argmax, lowest id on ties)
  double top_p = 1.0;        // keep the smallest set of most likely tokens with mass >= top_p
  uint64_t seed = 0;
};

class Sampler {
 public:
  // InvalidArgument unless temperature is finite and >= 0 and top_p is in (0, 1].
  static absl::StatusOr<Sampler> Create(const SamplerOptions& options);

  // Picks a token id from logits [vocab]. InvalidArgument for an empty span.
  absl::StatusOr<int32_t> Sample(absl::Span<const float> logits);

 private:
  explicit Sampler(const SamplerOptions& options) : options_(options), state_(options.seed) {}
  // Uniform double in [0, 1) from the next 53 bits.
  double NextUniform();

  SamplerOptions options_;
  uint64_t state_;
  std::vector<std::pair<float, int32_t>> sorted_;  // reused between calls
  std::vector<double> probs_;
};

}  // namespace fm::rt
