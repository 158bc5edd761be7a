// The presets of `flashmem synth`. Every value is recorded here, so tests and docs can refer to it.

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/weights/synth.h"

namespace fm::rt {
namespace {

// "tiny": small enough for exhaustive tests, yet every V4 feature is present: SWA-only, CSA and
// HCA layers (HCA ratio 16 so a 64-token test sees entries), hash and learned routing, an MTP
// block, YaRN with a short original length, a swiglu clamp that bites, non-unit routed scaling,
// 4-stream mHC, and an MXFP4-compatible width (hidden and moe_intermediate multiples of 32).
ModelConfig TinyConfig() {
  ModelConfig c;
  c.vocab_size = 512;
  c.hidden_size = 64;
  c.num_hidden_layers = 5;
  c.num_nextn_predict_layers = 1;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 1;
  c.head_dim = 48;
  c.qk_rope_head_dim = 16;
  c.q_lora_rank = 32;
  c.o_groups = 2;
  c.o_lora_rank = 32;
  c.sliding_window = 16;
  c.compress_ratios = {0, 4, 16, 4, 16, 0};
  c.index_n_heads = 4;
  c.index_head_dim = 32;
  c.index_topk = 8;
  c.rope_theta = 10000.0;
  c.compress_rope_theta = 160000.0;
  c.rope_scaling = {"yarn", 4.0, 64, 32.0, 1.0};
  c.max_position_embeddings = 1024;
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 2;
  c.n_shared_experts = 1;
  c.moe_intermediate_size = 32;
  c.num_hash_layers = 2;
  c.routed_scaling_factor = 1.5;
  c.swiglu_limit = 2.5;
  c.hc_mult = 4;
  c.hc_sinkhorn_iters = 20;
  c.hc_eps = 1e-6;
  c.rms_norm_eps = 1e-6;
  return c;
}

// "small": the README demo. Flash's layer pattern and ratios (CSA 4 / HCA 128, window 128) at a
// width that decodes at tens of tokens per second on two CPU cores.
ModelConfig SmallConfig() {
  ModelConfig c;
  c.vocab_size = 8192;
  c.hidden_size = 512;
  c.num_hidden_layers = 6;
  c.num_nextn_predict_layers = 1;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 1;
  c.head_dim = 128;
  c.qk_rope_head_dim = 32;
  c.q_lora_rank = 256;
  c.o_groups = 2;
  c.o_lora_rank = 256;
  c.sliding_window = 128;
  c.compress_ratios = {0, 4, 128, 4, 128, 4, 0};
  c.index_n_heads = 8;
  c.index_head_dim = 64;
  c.index_topk = 64;
  c.rope_theta = 10000.0;
  c.compress_rope_theta = 160000.0;
  c.rope_scaling = {"yarn", 16.0, 4096, 32.0, 1.0};
  c.max_position_embeddings = 65536;
  c.n_routed_experts = 32;
  c.num_experts_per_tok = 4;
  c.n_shared_experts = 1;
  c.moe_intermediate_size = 256;
  c.num_hash_layers = 1;
  c.routed_scaling_factor = 1.5;
  c.swiglu_limit = 10.0;
  c.hc_mult = 4;
  c.hc_sinkhorn_iters = 20;
  return c;
}

// "flash-slice": DeepSeek-V4-Flash's real dimensions for `layers` decoder layers, whose ratios are
// Flash's from model layer 2 on (4, 128, 4, ...), plus one SWA-only MTP block.
ModelConfig FlashSliceConfig(int64_t layers) {
  ModelConfig c;
  c.vocab_size = 129280;
  c.hidden_size = 4096;
  c.num_hidden_layers = layers;
  c.num_nextn_predict_layers = 1;
  c.num_attention_heads = 64;
  c.num_key_value_heads = 1;
  c.head_dim = 512;
  c.qk_rope_head_dim = 64;
  c.q_lora_rank = 1024;
  c.o_groups = 8;
  c.o_lora_rank = 1024;
  c.sliding_window = 128;
  c.compress_ratios.clear();
  for (int64_t l = 0; l < layers; ++l) c.compress_ratios.push_back(l % 2 == 0 ? 4 : 128);
  c.compress_ratios.push_back(0);
  c.index_n_heads = 64;
  c.index_head_dim = 128;
  c.index_topk = 512;
  c.rope_theta = 10000.0;
  c.compress_rope_theta = 160000.0;
  c.rope_scaling = {"yarn", 16.0, 65536, 32.0, 1.0};
  c.max_position_embeddings = 1048576;
  c.n_routed_experts = 256;
  c.num_experts_per_tok = 6;
  c.n_shared_experts = 1;
  c.moe_intermediate_size = 2048;
  c.num_hash_layers = std::min<int64_t>(1, layers);
  c.routed_scaling_factor = 1.5;
  c.swiglu_limit = 10.0;
  c.hc_mult = 4;
  c.hc_sinkhorn_iters = 20;
  return c;
}

}  // namespace

absl::StatusOr<ModelConfig> SynthConfig(const SynthOptions& options) {
  ModelConfig c;
  if (options.preset == "tiny" || options.preset == "small") {
    if (options.layers != 0) {
      return absl::InvalidArgumentError(absl::StrCat("synth: --layers=", options.layers,
                                                     ": only the flash-slice preset takes a layer "
                                                     "count (tiny and small have a fixed depth)"));
    }
    c = options.preset == "tiny" ? TinyConfig() : SmallConfig();
  } else if (options.preset == "flash-slice") {
    const int64_t layers = options.layers == 0 ? 2 : options.layers;
    if (layers < 1 || layers > 43) {
      return absl::InvalidArgumentError(
          absl::StrCat("synth: --layers=", options.layers, ": expected 1..43 (Flash has 43)"));
    }
    c = FlashSliceConfig(layers);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("synth: --preset=", options.preset, ": expected tiny, small or flash-slice"));
  }
  if (options.weights == "fp8") {
    c.expert_dtype = "fp4";
    c.quantization.present = true;
    c.quantization.quant_method = "fp8";
    c.quantization.fmt = "e4m3";
    c.quantization.scale_fmt = "ue8m0";
  } else if (options.weights != "bf16") {
    return absl::InvalidArgumentError(
        absl::StrCat("synth: --weights=", options.weights, ": expected bf16 or fp8"));
  }
  if (options.shards < 1 || options.shards > 9999) {
    return absl::InvalidArgumentError(
        absl::StrCat("synth: --shards=", options.shards, ": expected 1..9999"));
  }
  FM_RETURN_IF_ERROR(c.Validate());
  return c;
}

}  // namespace fm::rt
