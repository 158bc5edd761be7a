#pragma once
// ModelImpl: the loaded model behind the Model interface (model.h): checkpoint mapping, resolved
// weights, the compute pool and CPU backend, and the two RoPE frequency tables. Internal to
// runtime/model.

#include <memory>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/thread_pool.h"
#include "runtime/model/model.h"
#include "runtime/model/model_weights.h"
#include "runtime/weights/checkpoint.h"

namespace fm::rt {

class ModelImpl final : public Model {
 public:
  ModelImpl(std::unique_ptr<Checkpoint> checkpoint, ModelWeights weights, const ModelOptions& options);

  const ModelConfig& config() const override { return checkpoint_->config(); }
  const ModelOptions& options() const override { return options_; }
  std::unique_ptr<Sequence> NewSequence() const override;

  const ModelWeights& weights() const { return weights_; }
  kernels::KernelBackend* backend() const { return backend_.get(); }
  kernels::cpu::ThreadPool* pool() const { return pool_.get(); }
  // Inverse RoPE frequencies [qk_rope_head_dim / 2] for a layer of compress ratio `ratio`:
  // plain rope_theta on SWA-only layers, YaRN over compress_rope_theta on compressed layers.
  const float* inv_freq(int64_t ratio) const {
    return ratio == 0 ? plain_inv_freq_.data() : yarn_inv_freq_.data();
  }

 private:
  std::unique_ptr<Checkpoint> checkpoint_;
  ModelWeights weights_;
  ModelOptions options_;
  std::unique_ptr<kernels::cpu::ThreadPool> pool_;
  std::unique_ptr<kernels::cpu::CpuBackend> backend_;
  std::vector<float> plain_inv_freq_;
  std::vector<float> yarn_inv_freq_;
};

}  // namespace fm::rt
