#include "runtime/lsa/train/focal_loss.h"

#include <cmath>

namespace fm::rt::train {
namespace {

// log(1 + exp(x)) without overflow.
double Softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

}  // namespace

double FocalBceSum(const float* logits, const float* labels, const float* weights, int64_t n,
                   double gamma, double grad_scale, float* dlogit) {
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    const double sign = labels[j] > 0.5f ? 1.0 : -1.0;
    const double zt = sign * logits[j];
    const double log_pt = -Softplus(-zt);
    const double pt = std::exp(log_pt);
    const double one_minus = 1.0 - pt;  // = sigmoid(-zt)
    const double mod = gamma == 0 ? 1.0 : std::pow(one_minus, gamma);
    sum += weights[j] * mod * -log_pt;
    if (dlogit != nullptr) {
      // L = -(1 - p_t)^g log p_t, dp_t/dz_t = p_t (1 - p_t):
      // dL/dz_t = (1 - p_t)^g [g p_t log p_t - (1 - p_t)].
      const double d = mod * (gamma * pt * log_pt - one_minus);
      dlogit[j] = static_cast<float>(weights[j] * d * sign * grad_scale);
    }
  }
  return sum;
}

}  // namespace fm::rt::train
