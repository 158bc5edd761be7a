#pragma once
// ModelConfig: every dimension and constant of a DeepSeek-V4 model, read from the release's
// config.json (../shared/spec/CHECKPOINT_FORMAT.md §2). Tiny test models and the real Flash use the
// same struct and code: nothing in flashmem hard-codes a Flash constant.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fm::rt {

struct RopeScaling {
  std::string type;                          // "yarn" or "" (none)
  double factor = 1.0;
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
};

struct QuantizationConfig {
  bool present = false;                      // absent: read every dtype from the safetensors header
  std::string quant_method;                  // "fp8"
  std::string fmt;                           // "e4m3"
  std::string scale_fmt;                     // "ue8m0"
  int64_t weight_block_rows = 128;
  int64_t weight_block_cols = 128;
};

struct ModelConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;                   // d
  int64_t num_hidden_layers = 0;
  int64_t num_nextn_predict_layers = 0;      // MTP blocks mtp.0..
  int64_t num_attention_heads = 0;           // H
  int64_t num_key_value_heads = 1;           // must be 1 (shared KV, K = V)
  int64_t head_dim = 0;                      // D = nope + rope
  int64_t qk_rope_head_dim = 0;              // r (last r dims of each head, interleaved pairs)
  int64_t q_lora_rank = 0;
  int64_t o_groups = 0;
  int64_t o_lora_rank = 0;
  int64_t sliding_window = 0;                // raw-KV window incl. the current token
  std::vector<int64_t> compress_ratios;      // per layer then per MTP block: 0, 4 (CSA) or m (HCA)
  int64_t index_n_heads = 0;
  int64_t index_head_dim = 0;
  int64_t index_topk = 0;
  double rope_theta = 10000.0;               // plain RoPE on SWA-only layers
  double compress_rope_theta = 160000.0;     // YaRN RoPE on compressed layers
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 0;
  int64_t n_routed_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t n_shared_experts = 1;
  int64_t moe_intermediate_size = 0;
  int64_t num_hash_layers = 0;
  std::string scoring_func = "sqrtsoftplus";
  std::string topk_method = "noaux_tc";
  bool norm_topk_prob = true;
  double routed_scaling_factor = 1.0;
  double swiglu_limit = 0.0;                 // 0 = no clamp
  int64_t hc_mult = 4;
  int64_t hc_sinkhorn_iters = 20;
  double hc_eps = 1e-6;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = 0;
  int64_t eos_token_id = 1;
  std::string hidden_act = "silu";
  std::string expert_dtype;                  // "fp4" or "" (read from header)
  QuantizationConfig quantization;

  // Derived helpers (valid after Validate()).
  int64_t nope_head_dim() const { return head_dim - qk_rope_head_dim; }
  int64_t hc_dim() const { return (2 + hc_mult) * hc_mult; }             // m = 24 for Flash
  // compress ratio of decoder layer `layer` (0..n-1) or MTP block (n..n+mtp-1).
  int64_t compress_ratio(int64_t layer) const { return compress_ratios[static_cast<size_t>(layer)]; }
  bool is_csa(int64_t layer) const { return compress_ratio(layer) == 4; }
  bool is_hca(int64_t layer) const { return compress_ratio(layer) > 0 && compress_ratio(layer) != 4; }
  bool is_hash_layer(int64_t layer) const { return layer < num_hash_layers; }  // MTP never

  // Checks every field and cross-field constraint. Errors name the config.json key, the value found
  // and what was expected, e.g. InvalidArgument("config.json: head_dim=500 must be divisible by ...").
  absl::Status Validate() const;
};

// Parses config.json text. Unknown keys are ignored (releases carry extra metadata); known keys
// with a wrong type or an unsupported value are errors naming the key and value. `origin` is the
// file name used in messages. Calls Validate().
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text, const std::string& origin);

// Reads and parses `path` (NotFound when missing).
absl::StatusOr<ModelConfig> ReadModelConfig(const std::filesystem::path& path);

// Serialises to the release's config.json keys (used by `flashmem synth`).
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace fm::rt
