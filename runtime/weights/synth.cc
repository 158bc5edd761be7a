// Tensor plan and writer for synthetic checkpoints. Initialisation (why these values):
//  - linears ~ N(0, 1/fan_in): each projection keeps an O(1) input O(1);
//  - embed ~ N(0, 1) (rms-1 tokens), head ~ N(0, 1/d) so logits are O(1) after the final norm;
//  - norm weights 1 + N(0, 0.1^2): near 1 but not 1, so a skipped norm weight shows;
//  - mHC: fn ~ N(0, (0.3)^2 / (n_hc d)) makes the mixing logits ~0.3; base puts pre ~ 1/n_hc, post
//  ~ 1
//    and comb near a softened identity (diag 1, off-diag 0); scales ~ 1 +- 0.2;
//  - attn_sink ~ N(0, 0.5^2), ape ~ N(0, 0.5^2), gate.bias ~ N(0, 0.1^2): same order as the logits
//    they compete with.

#include "runtime/weights/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/weights/synth_fill.h"

namespace fm::rt {
namespace {

using synth::FloatFill;
using synth::TensorKey;

class Planner {
 public:
  Planner(const ModelConfig& c, bool fp8, uint64_t seed, SafetensorsWriter* w)
      : c_(c), fp8_(fp8), seed_(seed), w_(w) {}

  // A float tensor: value = mean + std_dev * z.
  void Float(const std::string& name, DType dtype, std::vector<int64_t> shape, float mean,
             float std_dev) {
    w_->AddStreamed(name, dtype, std::move(shape),
                    synth::NormalFill(dtype, Key(name), mean, std_dev));
  }
  void Norm(const std::string& name, int64_t dim) { Float(name, DType::kBF16, {dim}, 1.0f, 0.1f); }
  // A dense linear [rows, cols]: FP8 + block scales, or BF16.
  void Linear(const std::string& stem, int64_t rows, int64_t cols) {
    const float sd = 1.0f / std::sqrt(static_cast<float>(cols));
    const std::string name = stem + ".weight";
    if (!fp8_) {
      Float(name, DType::kBF16, {rows, cols}, 0.0f, sd);
      return;
    }
    const uint64_t key = Key(name);
    w_->AddStreamed(name, DType::kF8E4M3, {rows, cols}, synth::Fp8WeightFill(key, cols, sd));
    w_->AddStreamed(stem + ".scale", DType::kF8E8M0, {(rows + 127) / 128, (cols + 127) / 128},
                    synth::Fp8ScaleFill(key, sd));
  }
  // A routed-expert linear: MXFP4 (I8 [rows, cols/2] + e8m0 [rows, cols/32]) or BF16.
  void Expert(const std::string& stem, int64_t rows, int64_t cols) {
    const float sd = 1.0f / std::sqrt(static_cast<float>(cols));
    const std::string name = stem + ".weight";
    if (!fp8_) {
      Float(name, DType::kBF16, {rows, cols}, 0.0f, sd);
      return;
    }
    const uint64_t key = Key(name);
    w_->AddStreamed(name, DType::kI8, {rows, cols / 2}, synth::Mxfp4WeightFill(key));
    w_->AddStreamed(stem + ".scale", DType::kF8E8M0, {rows, cols / 32},
                    synth::Mxfp4ScaleFill(key, sd));
  }

  // hc_{attn,ffn} or hc_head parameters under `prefix` ("layers.3.hc_attn", "hc_head").
  void Hc(const std::string& prefix, bool head) {
    const int64_t n = c_.hc_mult, d = c_.hidden_size;
    const int64_t m = head ? n : c_.hc_dim();
    const float fn_sd = 0.3f / std::sqrt(static_cast<float>(n * d));
    Float(prefix + "_fn", DType::kF32, {m, n * d}, 0.0f, fn_sd);
    const float pre_base = -std::log(static_cast<float>(std::max<int64_t>(n - 1, 1)));
    w_->AddStreamed(
        prefix + "_base", DType::kF32, {m},
        FloatFill(DType::kF32, Key(prefix + "_base"), [n, pre_base](int64_t i, float z) {
          if (i < n) return pre_base + 0.1f * z;  // pre ~ 1/n_hc
          if (i < 2 * n) return 0.1f * z;         // post = 2 sigmoid ~ 1
          const int64_t j = (i - 2 * n) / n, k = (i - 2 * n) % n;
          return (j == k ? 1.0f : 0.0f) + 0.1f * z;  // comb: softened identity
        }));
    Float(prefix + "_scale", DType::kF32, {head ? 1 : 3}, 1.0f, 0.2f);
  }

  void Compressor(const std::string& prefix, int64_t ratio, int64_t dim) {
    const int64_t cp = ratio == 4 ? 2 : 1;  // CSA pools overlapping pairs of chunks
    const float sd = 1.0f / std::sqrt(static_cast<float>(c_.hidden_size));
    Float(prefix + ".wkv.weight", DType::kBF16, {cp * dim, c_.hidden_size}, 0.0f, sd);
    Float(prefix + ".wgate.weight", DType::kBF16, {cp * dim, c_.hidden_size}, 0.0f, sd);
    Float(prefix + ".ape", DType::kF32, {ratio, cp * dim}, 0.0f, 0.5f);
    Norm(prefix + ".norm.weight", dim);
  }

  // One decoder layer or MTP block: `p` = "layers.3." / "mtp.0.", `block` its compress_ratios
  // index.
  void Block(const std::string& p, int64_t block, bool hash) {
    const int64_t d = c_.hidden_size, H = c_.num_attention_heads, D = c_.head_dim;
    const int64_t q = c_.q_lora_rank, G = c_.o_groups, R = c_.o_lora_rank;
    const int64_t E = c_.n_routed_experts, I = c_.moe_intermediate_size;
    Norm(p + "attn_norm.weight", d);
    Norm(p + "ffn_norm.weight", d);
    Hc(p + "hc_attn", false);
    Hc(p + "hc_ffn", false);
    Linear(p + "attn.wq_a", q, d);
    Norm(p + "attn.q_norm.weight", q);
    Linear(p + "attn.wq_b", H * D, q);
    Linear(p + "attn.wkv", D, d);
    Norm(p + "attn.kv_norm.weight", D);
    Linear(p + "attn.wo_a", G * R, H * D / G);
    Linear(p + "attn.wo_b", d, G * R);
    Float(p + "attn.attn_sink", DType::kF32, {H}, 0.0f, 0.5f);
    const int64_t ratio = c_.compress_ratio(block);
    if (ratio > 0) Compressor(p + "attn.compressor", ratio, D);
    if (ratio == 4) {
      const int64_t HI = c_.index_n_heads, DI = c_.index_head_dim;
      Linear(p + "attn.indexer.wq_b", HI * DI, q);
      Float(p + "attn.indexer.weights_proj.weight", DType::kBF16, {HI, d}, 0.0f,
            1.0f / std::sqrt(static_cast<float>(d)));
      Compressor(p + "attn.indexer.compressor", 4, DI);
    }
    Float(p + "ffn.gate.weight", DType::kBF16, {E, d}, 0.0f,
          1.0f / std::sqrt(static_cast<float>(d)));
    if (hash) {
      const std::string name = p + "ffn.gate.tid2eid";
      w_->AddStreamed(name, DType::kI64, {c_.vocab_size, c_.num_experts_per_tok},
                      synth::Tid2EidFill(Key(name), c_.num_experts_per_tok, E));
    } else {
      Float(p + "ffn.gate.bias", DType::kF32, {E}, 0.0f, 0.1f);
    }
    if (c_.n_shared_experts > 0) {
      Linear(p + "ffn.shared_experts.w1", I, d);
      Linear(p + "ffn.shared_experts.w3", I, d);
      Linear(p + "ffn.shared_experts.w2", d, I);
    }
    for (int64_t e = 0; e < E; ++e) {
      const std::string ep = absl::StrCat(p, "ffn.experts.", e, ".");
      Expert(ep + "w1", I, d);
      Expert(ep + "w3", I, d);
      Expert(ep + "w2", d, I);
    }
  }

  void All() {
    const int64_t V = c_.vocab_size, d = c_.hidden_size;
    Float("embed.weight", DType::kBF16, {V, d}, 0.0f, 1.0f);
    Float("head.weight", DType::kBF16, {V, d}, 0.0f, 1.0f / std::sqrt(static_cast<float>(d)));
    Norm("norm.weight", d);
    Hc("hc_head", true);
    for (int64_t l = 0; l < c_.num_hidden_layers; ++l) {
      Block(absl::StrCat("layers.", l, "."), l, c_.is_hash_layer(l));
    }
    for (int64_t m = 0; m < c_.num_nextn_predict_layers; ++m) {
      const std::string p = absl::StrCat("mtp.", m, ".");
      Block(p, c_.num_hidden_layers + m, /*hash=*/false);
      Linear(p + "e_proj", d, d);
      Linear(p + "h_proj", d, d);
      Norm(p + "enorm.weight", d);
      Norm(p + "hnorm.weight", d);
      Norm(p + "norm.weight", d);
      Hc(p + "hc_head", true);
    }
  }

 private:
  uint64_t Key(const std::string& name) const { return TensorKey(seed_, name); }

  const ModelConfig& c_;
  bool fp8_;
  uint64_t seed_;
  SafetensorsWriter* w_;
};

}  // namespace

absl::Status AddSynthTensors(const ModelConfig& config, const std::string& weights, uint64_t seed,
                             SafetensorsWriter* writer) {
  if (weights != "bf16" && weights != "fp8") {
    return absl::InvalidArgumentError(
        absl::StrCat("synth: weights=", weights, ": expected bf16 or fp8"));
  }
  FM_RETURN_IF_ERROR(config.Validate());
  const bool fp8 = weights == "fp8";
  if (fp8 && (config.hidden_size % 32 != 0 || config.moe_intermediate_size % 32 != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "synth: MXFP4 experts need hidden_size (", config.hidden_size,
        ") and moe_intermediate_size (", config.moe_intermediate_size, ") to be multiples of 32"));
  }
  // The tid2eid generator draws a row's experts into a fixed 64-entry buffer.
  if (config.num_experts_per_tok > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("synth: num_experts_per_tok=", config.num_experts_per_tok,
                     ": at most 64 for synthetic hash tables"));
  }
  Planner(config, fp8, seed, writer).All();
  return absl::OkStatus();
}

absl::Status WriteSynthCheckpoint(const SynthOptions& options,
                                  const std::filesystem::path& out_dir) {
  FM_ASSIGN_OR_RETURN(ModelConfig config, SynthConfig(options));
  SafetensorsWriter writer;
  FM_RETURN_IF_ERROR(AddSynthTensors(config, options.weights, options.seed, &writer));
  writer.SetMetadata("format", "pt");
  writer.SetMetadata("flashmem_synth", absl::StrCat(options.preset, " weights=", options.weights,
                                                    " seed=", options.seed));
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat(out_dir.string(), ": cannot create directory: ", ec.message()));
  }
  // Stale files from an earlier synth (an index json beside a new single file) would win at Open.
  for (const auto& entry : std::filesystem::directory_iterator(out_dir, ec)) {
    const std::string fname = entry.path().filename().string();
    const bool shard = fname.rfind("model-", 0) == 0 && fname.size() > 12 &&
                       fname.substr(fname.size() - 12) == ".safetensors";
    if (shard || fname == "model.safetensors" || fname == "model.safetensors.index.json") {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  {
    const std::filesystem::path cfg = out_dir / "config.json";
    std::FILE* f = std::fopen(cfg.c_str(), "wb");
    if (f == nullptr) return absl::InternalError(absl::StrCat(cfg.string(), ": cannot write"));
    const std::string text = ModelConfigToJson(config);
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !ok) {
      return absl::InternalError(absl::StrCat(cfg.string(), ": write failed"));
    }
  }
  return writer.WriteCheckpoint(out_dir, options.shards);
}

}  // namespace fm::rt
