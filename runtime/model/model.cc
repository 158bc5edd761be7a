#include "runtime/model/model.h"

#include <utility>

#include "common/status_macros.h"
#include "kernels/cpu/ops_norm.h"
#include "runtime/model/model_impl.h"
#include "runtime/model/sequence_impl.h"

namespace fm::rt {

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::filesystem::path& dir,
                                                   const ModelOptions& options) {
  if (options.kv_mode != KvMode::kFp8 && options.kv_mode != KvMode::kFp32) {
    return absl::InvalidArgumentError("ModelOptions.kv_mode: unknown value");
  }
  FM_ASSIGN_OR_RETURN(std::unique_ptr<Checkpoint> checkpoint, Checkpoint::Open(dir));
  absl::StatusOr<ModelWeights> weights = LoadModelWeights(*checkpoint);
  if (!weights.ok()) {
    return Annotate(weights.status(), "loading model weights from " + dir.string());
  }
  return std::unique_ptr<Model>(new ModelImpl(std::move(checkpoint), std::move(*weights), options));
}

ModelImpl::ModelImpl(std::unique_ptr<Checkpoint> checkpoint, ModelWeights weights,
                     const ModelOptions& options)
    : checkpoint_(std::move(checkpoint)), weights_(std::move(weights)), options_(options) {
  pool_ = std::make_unique<kernels::cpu::ThreadPool>(options_.n_threads);
  backend_ = std::make_unique<kernels::cpu::CpuBackend>(pool_.get());
  const ModelConfig& c = config();
  const int64_t rope = c.qk_rope_head_dim;
  plain_inv_freq_.resize(static_cast<size_t>(rope / 2));
  yarn_inv_freq_.resize(static_cast<size_t>(rope / 2));
  // SWA-only layers: plain RoPE (no YaRN); compressed layers: YaRN over compress_rope_theta.
  kernels::cpu::ComputeRopeInvFreq(rope, c.rope_theta, 0, 1.0, 32.0, 1.0, plain_inv_freq_.data());
  const bool yarn = c.rope_scaling.type == "yarn";
  kernels::cpu::ComputeRopeInvFreq(rope, c.compress_rope_theta,
                                   yarn ? c.rope_scaling.original_max_position_embeddings : 0,
                                   c.rope_scaling.factor, c.rope_scaling.beta_fast,
                                   c.rope_scaling.beta_slow, yarn_inv_freq_.data());
}

std::unique_ptr<Sequence> ModelImpl::NewSequence() const {
  return std::make_unique<SequenceImpl>(this);
}

}  // namespace fm::rt
