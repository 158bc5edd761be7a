// ModelConfig::Validate: every limit on config.json values lives here, with the reason for it.
// Parsing (JSON -> struct) is in model_config_json.cc.

#include "runtime/config/model_config.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fm::rt {
namespace {

// Dimensions above this are not a DeepSeek-V4 model; the cap keeps every product of two dimensions
// (the largest any tensor shape uses) far inside int64.
constexpr int64_t kMaxDim = int64_t{1} << 24;
// More layers than any release; bounds the per-layer loops of a hostile config.
constexpr int64_t kMaxLayers = 4096;

absl::Status Bad(const std::string& key, const std::string& value, const std::string& expected) {
  return absl::InvalidArgumentError(
      absl::StrCat("config.json: ", key, "=", value, ": expected ", expected));
}

absl::Status CheckDim(const char* key, int64_t v) {
  if (v < 1 || v > kMaxDim) return Bad(key, absl::StrCat(v), absl::StrCat("1..", kMaxDim));
  return absl::OkStatus();
}

absl::Status CheckPositive(const char* key, double v) {
  if (!(v > 0.0)) return Bad(key, absl::StrCat(v), "a positive number");
  return absl::OkStatus();
}

}  // namespace

absl::Status ModelConfig::Validate() const {
  // Plain positive dimensions: each sizes at least one tensor axis.
  const std::pair<const char*, int64_t> dims[] = {
      {"vocab_size", vocab_size},
      {"hidden_size", hidden_size},
      {"num_attention_heads", num_attention_heads},
      {"head_dim", head_dim},
      {"qk_rope_head_dim", qk_rope_head_dim},
      {"q_lora_rank", q_lora_rank},
      {"o_groups", o_groups},
      {"o_lora_rank", o_lora_rank},
      {"sliding_window", sliding_window},
      {"index_n_heads", index_n_heads},
      {"index_head_dim", index_head_dim},
      {"index_topk", index_topk},
      {"max_position_embeddings", max_position_embeddings},
      {"n_routed_experts", n_routed_experts},
      {"num_experts_per_tok", num_experts_per_tok},
      {"moe_intermediate_size", moe_intermediate_size},
      {"hc_mult", hc_mult},
      {"hc_sinkhorn_iters", hc_sinkhorn_iters},
  };
  for (const auto& [key, v] : dims) {
    if (v < 1) return Bad(key, absl::StrCat(v), "a positive integer");
    if (v > kMaxDim) return Bad(key, absl::StrCat(v), absl::StrCat("at most ", kMaxDim));
  }
  if (num_hidden_layers < 1 || num_hidden_layers > kMaxLayers) {
    return Bad("num_hidden_layers", absl::StrCat(num_hidden_layers),
               absl::StrCat("1..", kMaxLayers));
  }
  if (num_nextn_predict_layers < 0 || num_nextn_predict_layers > kMaxLayers) {
    return Bad("num_nextn_predict_layers", absl::StrCat(num_nextn_predict_layers),
               absl::StrCat("0..", kMaxLayers));
  }
  // V4 shares one KV head between all query heads (K = V); nothing else is implemented.
  if (num_key_value_heads != 1) {
    return absl::UnimplementedError(
        absl::StrCat("config.json: num_key_value_heads=", num_key_value_heads,
                     ": only 1 (shared K = V head) is supported"));
  }
  // RoPE rotates interleaved pairs of the last r dims; the no-RoPE part must be non-empty.
  if (qk_rope_head_dim % 2 != 0) {
    return Bad("qk_rope_head_dim", absl::StrCat(qk_rope_head_dim), "an even number (RoPE pairs)");
  }
  if (head_dim <= qk_rope_head_dim) {
    return Bad("head_dim", absl::StrCat(head_dim),
               absl::StrCat("> qk_rope_head_dim=", qk_rope_head_dim));
  }
  // The indexer applies the same RoPE width to the tail of each index head.
  if (index_head_dim <= qk_rope_head_dim) {
    return Bad("index_head_dim", absl::StrCat(index_head_dim),
               absl::StrCat("> qk_rope_head_dim=", qk_rope_head_dim));
  }
  // wo_a groups whole heads.
  if (num_attention_heads % o_groups != 0) {
    return Bad("o_groups", absl::StrCat(o_groups),
               absl::StrCat("a divisor of num_attention_heads=", num_attention_heads));
  }
  const int64_t blocks = num_hidden_layers + num_nextn_predict_layers;
  if (static_cast<int64_t>(compress_ratios.size()) < blocks) {
    return Bad("compress_ratios", absl::StrCat("[", absl::StrJoin(compress_ratios, ","), "]"),
               absl::StrCat("at least num_hidden_layers + num_nextn_predict_layers = ", blocks,
                            " entries, found ", compress_ratios.size()));
  }
  for (size_t i = 0; i < compress_ratios.size(); ++i) {
    const int64_t c = compress_ratios[i];
    // 0 = SWA only, 4 = CSA (overlapping pairs of chunks), any other ratio >= 2 = HCA.
    if (c < 0 || c == 1 || c > kMaxDim) {
      return Bad(absl::StrCat("compress_ratios[", i, "]"), absl::StrCat(c),
                 "0 (SWA), 4 (CSA) or an HCA ratio >= 2");
    }
  }
  if (num_experts_per_tok > n_routed_experts) {
    return Bad("num_experts_per_tok", absl::StrCat(num_experts_per_tok),
               absl::StrCat("<= n_routed_experts=", n_routed_experts));
  }
  // The release names exactly one shared expert (ffn.shared_experts.*).
  if (n_shared_experts < 0 || n_shared_experts > 1) {
    return absl::UnimplementedError(absl::StrCat("config.json: n_shared_experts=", n_shared_experts,
                                                 ": only 0 or 1 is supported"));
  }
  if (num_hash_layers < 0 || num_hash_layers > num_hidden_layers) {
    return Bad("num_hash_layers", absl::StrCat(num_hash_layers),
               absl::StrCat("0..num_hidden_layers=", num_hidden_layers));
  }
  if (scoring_func != "sqrtsoftplus") return Bad("scoring_func", scoring_func, "\"sqrtsoftplus\"");
  if (topk_method != "noaux_tc") return Bad("topk_method", topk_method, "\"noaux_tc\"");
  if (hidden_act != "silu") return Bad("hidden_act", hidden_act, "\"silu\"");
  if (!expert_dtype.empty() && expert_dtype != "fp4" && expert_dtype != "fp8" &&
      expert_dtype != "bf16") {
    return Bad("expert_dtype", expert_dtype, "\"fp4\", \"fp8\", \"bf16\" or absent");
  }
  for (const auto& [key, v] : {std::pair<const char*, double>{"rope_theta", rope_theta},
                               {"compress_rope_theta", compress_rope_theta},
                               {"routed_scaling_factor", routed_scaling_factor},
                               {"hc_eps", hc_eps},
                               {"rms_norm_eps", rms_norm_eps}}) {
    if (absl::Status s = CheckPositive(key, v); !s.ok()) return s;
  }
  if (!(swiglu_limit >= 0.0)) {
    return Bad("swiglu_limit", absl::StrCat(swiglu_limit), ">= 0 (0 = no clamp)");
  }
  if (!rope_scaling.type.empty()) {
    if (rope_scaling.type != "yarn") return Bad("rope_scaling.type", rope_scaling.type, "\"yarn\"");
    if (!(rope_scaling.factor >= 1.0)) {
      return Bad("rope_scaling.factor", absl::StrCat(rope_scaling.factor), ">= 1");
    }
    if (absl::Status s = CheckDim("rope_scaling.original_max_position_embeddings",
                                  rope_scaling.original_max_position_embeddings);
        !s.ok()) {
      return s;
    }
    if (!(rope_scaling.beta_fast > 0.0) || !(rope_scaling.beta_slow > 0.0) ||
        rope_scaling.beta_slow > rope_scaling.beta_fast) {
      return Bad("rope_scaling.beta_fast/beta_slow",
                 absl::StrCat(rope_scaling.beta_fast, "/", rope_scaling.beta_slow),
                 "0 < beta_slow <= beta_fast");
    }
  }
  if (quantization.present) {
    if (quantization.quant_method != "fp8") {
      return absl::UnimplementedError(
          absl::StrCat("config.json: quantization_config.quant_method=", quantization.quant_method,
                       ": only \"fp8\" is supported"));
    }
    if (!quantization.fmt.empty() && quantization.fmt != "e4m3") {
      return absl::UnimplementedError(
          absl::StrCat("config.json: quantization_config.fmt=", quantization.fmt,
                       ": only \"e4m3\" is supported"));
    }
    if (!quantization.scale_fmt.empty() && quantization.scale_fmt != "ue8m0") {
      return absl::UnimplementedError(
          absl::StrCat("config.json: quantization_config.scale_fmt=", quantization.scale_fmt,
                       ": only \"ue8m0\" is supported"));
    }
    // The loader's FP8 path assumes 128x128 blocks (Checkpoint::GetWeight, kFP8Block128).
    if (quantization.weight_block_rows != 128 || quantization.weight_block_cols != 128) {
      return absl::UnimplementedError(absl::StrCat(
          "config.json: quantization_config.weight_block_size=[", quantization.weight_block_rows,
          ",", quantization.weight_block_cols, "]: only [128,128] is supported"));
    }
  }
  if (bos_token_id < 0 || bos_token_id >= vocab_size) {
    return Bad("bos_token_id", absl::StrCat(bos_token_id), absl::StrCat("0..", vocab_size - 1));
  }
  if (eos_token_id < 0 || eos_token_id >= vocab_size) {
    return Bad("eos_token_id", absl::StrCat(eos_token_id), absl::StrCat("0..", vocab_size - 1));
  }
  return absl::OkStatus();
}

}  // namespace fm::rt
