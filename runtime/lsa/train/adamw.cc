#include "runtime/lsa/train/adamw.h"

#include <cmath>
#include <numbers>

namespace fm::rt::train {

double CosineLr(double base_lr, int64_t step, int64_t total_steps) {
  if (total_steps <= 0) return base_lr;
  const double x = static_cast<double>(step) / static_cast<double>(total_steps);
  return base_lr * 0.5 * (1.0 + std::cos(std::numbers::pi * x));
}

double GlobalGradNorm(absl::Span<const std::vector<float>* const> grads) {
  double ss = 0;
  for (const std::vector<float>* g : grads) {
    for (float v : *g) ss += static_cast<double>(v) * v;
  }
  return std::sqrt(ss);
}

double ClipGradNorm(absl::Span<std::vector<float>* const> grads, double norm, double max_norm) {
  const double scale = max_norm / (norm + 1e-6);
  if (scale >= 1.0) return 1.0;
  for (std::vector<float>* g : grads) {
    for (float& v : *g) v = static_cast<float>(v * scale);
  }
  return scale;
}

void AdamWUpdate(const AdamWOptions& o, double lr, int64_t step, const std::vector<float>& grad,
                 std::vector<float>* param, std::vector<float>* m, std::vector<float>* v) {
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
  const double decay = 1.0 - lr * o.weight_decay;
  const double step_size = lr / bc1;
  const double sqrt_bc2 = std::sqrt(bc2);
  float* p = param->data();
  float* mm = m->data();
  float* vv = v->data();
  for (size_t i = 0; i < grad.size(); ++i) {
    const double g = grad[i];
    mm[i] = static_cast<float>(o.beta1 * mm[i] + (1.0 - o.beta1) * g);
    vv[i] = static_cast<float>(o.beta2 * vv[i] + (1.0 - o.beta2) * g * g);
    const double denom = std::sqrt(static_cast<double>(vv[i])) / sqrt_bc2 + o.eps;
    p[i] = static_cast<float>(p[i] * decay - step_size * mm[i] / denom);
  }
}

}  // namespace fm::rt::train
