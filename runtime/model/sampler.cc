#include "runtime/model/sampler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace fm::rt {

absl::StatusOr<Sampler> Sampler::Create(const SamplerOptions& options) {
  if (!std::isfinite(options.temperature) || options.temperature < 0.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature=", options.temperature, ": expected a finite value >= 0"));
  }
  if (!(options.top_p > 0.0 && options.top_p <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p=", options.top_p, ": expected (0, 1]"));
  }
  return Sampler(options);
}

double Sampler::NextUniform() {
  // SplitMix64 (Steele, Lea, Flood 2014).
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

absl::StatusOr<int32_t> Sampler::Sample(absl::Span<const float> logits) {
  if (logits.empty()) return absl::InvalidArgumentError("Sample: empty logits");
  const int32_t n = static_cast<int32_t>(logits.size());
  if (options_.temperature == 0.0) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; ++i) {
      if (logits[i] > logits[best]) best = i;
    }
    return best;
  }
  sorted_.resize(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) sorted_[static_cast<size_t>(i)] = {logits[i], i};
  // Descending logit, ascending id on ties: a total order, so the result is reproducible.
  std::sort(sorted_.begin(), sorted_.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  const double inv_t = 1.0 / options_.temperature;
  const double mx = sorted_[0].first;
  double total = 0.0;
  std::vector<double>& probs = probs_;
  probs.resize(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    probs[static_cast<size_t>(i)] = std::exp((sorted_[static_cast<size_t>(i)].first - mx) * inv_t);
    total += probs[static_cast<size_t>(i)];
  }
  // Nucleus: the shortest prefix whose probability mass reaches top_p.
  int32_t keep = n;
  double mass = 0.0;
  for (int32_t i = 0; i < n; ++i) {
    mass += probs[static_cast<size_t>(i)] / total;
    if (mass >= options_.top_p) {
      keep = i + 1;
      break;
    }
  }
  double kept = 0.0;
  for (int32_t i = 0; i < keep; ++i) kept += probs[static_cast<size_t>(i)];
  const double u = NextUniform() * kept;
  double acc = 0.0;
  for (int32_t i = 0; i < keep; ++i) {
    acc += probs[static_cast<size_t>(i)];
    if (u < acc) return sorted_[static_cast<size_t>(i)].second;
  }
  return sorted_[static_cast<size_t>(keep - 1)].second;
}

}  // namespace fm::rt
