#pragma once
// The MoE gate's routing parameters from the config (spec §2.7), shared by the CPU forward
// (moe.cc) and the GPU decode step (runtime/backend/cuda) so both route identically.

#include <cstdint>

#include "kernels/backend.h"
#include "runtime/config/model_config.h"

namespace fm::rt {

// Route over `n_rows` rows of router logits [n_rows][n_routed_experts]; the caller fills the
// outputs and, for hash layers, hash_experts.
inline kernels::RouteParams MoeRouteParams(const ModelConfig& c, const float* logits,
                                           int64_t n_rows) {
  kernels::RouteParams rp;
  rp.logits = logits;
  rp.n_rows = n_rows;
  rp.n_experts = c.n_routed_experts;
  rp.k = c.num_experts_per_tok;
  rp.score_func = c.scoring_func == "softmax"   ? kernels::kScoreSoftmax
                  : c.scoring_func == "sigmoid" ? kernels::kScoreSigmoid
                                                : kernels::kScoreSqrtSoftplus;
  // As the reference Gate: softmax weights are used as they are, other scores are renormalised.
  rp.renormalise = c.norm_topk_prob && rp.score_func != kernels::kScoreSoftmax;
  rp.route_scale = static_cast<float>(c.routed_scaling_factor);
  return rp;
}

}  // namespace fm::rt
