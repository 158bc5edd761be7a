#pragma once
// AdamW as PyTorch defines it (decoupled weight decay: p <- p (1 - lr wd) before the Adam step;
// beta1 0.9, beta2 0.999, eps 1e-8, bias-corrected moments), the cosine learning-rate schedule
// without warm-up (CosineAnnealingLR with eta_min 0 over the total step count) and the global
// gradient-norm clip used by the reference trainer (spec §8).

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace fm::rt::train {

struct AdamWOptions {
  double lr = 1e-4;
  double weight_decay = 0.01;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
};

// lr at optimizer step `step` (0-based) of `total_steps`: lr/2 (1 + cos(pi step / total)).
double CosineLr(double base_lr, int64_t step, int64_t total_steps);

// sqrt of the sum of squares over all gradient tensors.
double GlobalGradNorm(absl::Span<const std::vector<float>* const> grads);

// Scales every gradient by max_norm / norm when norm > max_norm (torch's clip_grad_norm_, which
// uses max_norm / (norm + 1e-6)). Returns the scale applied.
double ClipGradNorm(absl::Span<std::vector<float>* const> grads, double norm, double max_norm);

// One parameter tensor's AdamW update; m and v are its moment buffers, `step` counts from 1.
void AdamWUpdate(const AdamWOptions& o, double lr, int64_t step, const std::vector<float>& grad,
                 std::vector<float>* param, std::vector<float>* m, std::vector<float>* v);

}  // namespace fm::rt::train
