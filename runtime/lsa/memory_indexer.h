#pragma once
// MemoryIndexer: the FlashMemory Level-1 retriever (V4_FLASH_LSA.md §5.1), one learned scorer per
// target CSA layer. It has no key-side network: it scores a layer's own stored Lightning-Indexer
// keys with its own query path
//   c = RMSNorm_{q_norm}(W_a h);  q = W_b c  -> [H][D_I];  RoPE-YaRN on the last rope dims of each
//   head (the compressed layers' table);  q_h <- Hadamard(q_h);  w = (W_w h) / sqrt(H * D_I);
//   logit_j = sum_h w_h relu(q_h . k_j);  score_j = sigmoid(logit_j).
// Everything is fp32 (the spec's training-time math, §8: dequantised keys, no FP8 q and no bf16
// cast before RoPE).
//
// Weights come from a safetensors file (FromSafetensors) or are initialised from the native
// indexer of the checkpoint (FromNative, spec §8 "Initialisation").

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/weight_view.h"
#include "runtime/config/model_config.h"

namespace fm::rt {

class Checkpoint;

// Decoder-layer indices of the CSA layers (compress ratio 4), in order: CSA index c is element c.
std::vector<int64_t> CsaModelLayers(const ModelConfig& config);

// The reference's target CSA indices {10, 12, 20} when the model has them (V4-Flash), else the last
// up-to-3 CSA indices. Empty when the model has no CSA layer.
std::vector<int64_t> DefaultTargetCsaIndices(const ModelConfig& config);

// One target layer's retriever weights, fp32, row-major [out][in].
struct RetrieverWeights {
  int64_t csa_index = 0;    // c in `retrievers.l{c}.*`
  int64_t model_layer = 0;  // the decoder layer it belongs to
  int64_t rank = 0;         // R
  int64_t n_heads = 0;      // H
  std::vector<float> wq_a;          // [R][hidden]
  std::vector<float> q_norm;        // [R]
  std::vector<float> wq_b;          // [H * D_I][R]
  std::vector<float> weights_proj;  // [H][hidden]
};

// Activations of the retriever's query path for n tokens, written by MemoryIndexer::QueryForward.
// The runtime scorer uses them as scratch (n = 1); the trainer (runtime/lsa/train) keeps them for
// the backward pass, which needs the pre-norm projection `a` as well as the outputs.
struct IndexerQueryBatch {
  int64_t n_rows = 0;
  std::vector<float> a;  // [n][R]        W_a h
  std::vector<float> c;  // [n][R]        RMSNorm_{q_norm}(a)
  std::vector<float> q;  // [n][H * D_I]  (W_b c), RoPE on the last rope dims, then Hadamard
  std::vector<float> w;  // [n][H]        (W_w h) / sqrt(H * D_I)
};

struct NativeInitOptions {
  int64_t n_heads = 0;  // H; 0 = index_n_heads. Heads past index_n_heads get zero weight (w_h = 0).
  int64_t rank = 0;     // R; 0 = q_lora_rank. Rank dims past q_lora_rank are zero rows of W_a.
};

// Not thread-safe: scoring reuses scratch buffers (one indexer per engine thread).
class MemoryIndexer {
 public:
  // Loads the retrievers of `csa_indices` from one safetensors file. Accepted names per target
  // (c = CSA index), each with or without a trailing ".weight", optionally without the
  // "retrievers." prefix:
  //   retrievers.l{c}.wq_a [R, hidden], retrievers.l{c}.q_norm_weight [R] (or q_norm),
  //   retrievers.l{c}.wq_b [H * index_head_dim, R], retrievers.l{c}.weights_proj [H, hidden];
  // dtype F32, BF16 or F16. H comes from weights_proj, R from wq_a (the reference auto-detects H
  // the same way). Errors name the file, the tensor, the shape or dtype found and the expected one.
  static absl::StatusOr<std::unique_ptr<MemoryIndexer>> FromSafetensors(
      const std::filesystem::path& path, const ModelConfig& config,
      absl::Span<const int64_t> csa_indices);

  // Initialises each target from the checkpoint's own layer: W_a and q_norm from the attention
  // (wq_a, q_norm), W_b and W_w from the native indexer (wq_b, weights_proj). With the default
  // options the logits equal the native indexer's scores; with H > index_n_heads they are scaled by
  // sqrt(index_n_heads / H) (the weight scale), and rank padding leaves them unchanged (q_norm of
  // the copied dims is rescaled by sqrt(q_lora_rank / R) to undo the wider RMS).
  static absl::StatusOr<std::unique_ptr<MemoryIndexer>> FromNative(
      const Checkpoint& checkpoint, absl::Span<const int64_t> csa_indices,
      const NativeInitOptions& options);

  // From weights already in memory (shapes checked against `config`).
  static absl::StatusOr<std::unique_ptr<MemoryIndexer>> FromWeights(
      const ModelConfig& config, std::vector<RetrieverWeights> layers);

  // Runs the projections on `pool` (null: the calling thread only). The pool must outlive the
  // indexer and must not be running another ParallelFor while Logits runs. Results do not change.
  void UseThreadPool(kernels::cpu::ThreadPool* pool) { backend_ = kernels::cpu::CpuBackend(pool); }

  const ModelConfig& config() const { return config_; }
  // Number of target layers and their identities.
  int64_t n_targets() const { return static_cast<int64_t>(layers_.size()); }
  const RetrieverWeights& target(int64_t t) const { return layers_[static_cast<size_t>(t)].w; }
  // Decoder layers of all targets, in target order.
  std::vector<int64_t> model_layers() const;

  // Pre-sigmoid logits of target `t` for the token at `position` whose normalised attention input is
  // `h` [hidden] against `n_keys` dequantised index keys `keys` [n_keys][index_head_dim]:
  // out[j] = logit_j. InvalidArgument for a bad target, a short h or a negative count.
  absl::Status Logits(int64_t t, absl::Span<const float> h, int64_t position, const float* keys,
                      int64_t n_keys, float* out);

  // sigmoid of Logits, in place of `out`.
  absl::Status Probabilities(int64_t t, absl::Span<const float> h, int64_t position,
                             const float* keys, int64_t n_keys, float* out);

  // The two halves of Logits, shared with the trainer so training runs exactly the runtime's math.
  // QueryForward: the query path of target `t` for `n_rows` tokens, h [n_rows][hidden] at
  // `positions` [n_rows], into *out (resized). The projections run on the pool (UseThreadPool).
  absl::Status QueryForward(int64_t t, const float* h, const int64_t* positions, int64_t n_rows,
                            IndexerQueryBatch* out);
  // ScoreKeys: out[j] = sum_h w[h] relu(q_h . k_j) for one token's q [H][D_I] and w [H] against
  // keys [n_keys][D_I]. Runs on the calling thread; safe to call concurrently.
  absl::Status ScoreKeys(const float* q, const float* w, int64_t n_heads, const float* keys,
                         int64_t n_keys, float* out) const;

  // Weights of target `t`, writable in place (the trainer's parameters): values may change, sizes
  // must not (the kernels' views point into these vectors).
  RetrieverWeights& mutable_target(int64_t t) { return layers_[static_cast<size_t>(t)].w; }
  // The YaRN inverse frequencies of the query RoPE, [qk_rope_head_dim / 2].
  const std::vector<float>& rope_inv_freq() const { return inv_freq_; }
  kernels::cpu::ThreadPool* thread_pool() const { return backend_.pool(); }

 private:
  struct Layer {
    RetrieverWeights w;
    kernels::WeightView wq_a, wq_b, weights_proj;
  };
  MemoryIndexer(const ModelConfig& config, std::vector<RetrieverWeights> layers);

  ModelConfig config_;
  std::vector<Layer> layers_;
  std::vector<float> inv_freq_;  // YaRN over compress_rope_theta, [qk_rope_head_dim / 2]
  kernels::cpu::CpuBackend backend_{nullptr};
  IndexerQueryBatch scratch_;  // Logits' activations (one token)
};

}  // namespace fm::rt
