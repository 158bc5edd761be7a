#pragma once
// The training loss of spec §8: binary cross-entropy with focal modulation,
//   loss_j = w_j (1 - p_t)^gamma BCE(p, y),  p = sigmoid(z), p_t = p y + (1 - p)(1 - y),
// no alpha. Computed from the logit in a numerically stable form (log p_t = -softplus(-z_t) with
// z_t = z for positives and -z for negatives).

#include <cstdint>

namespace fm::rt::train {

// Sum over n entries of loss_j (labels are 0 or 1). When dlogit is not null, writes
// d(sum)/dz_j * grad_scale into dlogit[j] (the caller passes 1 / (entries * layers) for the mean).
double FocalBceSum(const float* logits, const float* labels, const float* weights, int64_t n,
                   double gamma, double grad_scale, float* dlogit);

}  // namespace fm::rt::train
