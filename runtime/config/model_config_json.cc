// config.json <-> ModelConfig. nlohmann-json exceptions never escape: every lookup goes through the
// typed readers below, which turn a wrong type into a Status naming the key and the value found.

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/config/model_config.h"

namespace fm::rt {
namespace {

using Json = nlohmann::json;

// Short text of a JSON value for messages (values in a config are small; long ones are cut).
std::string Preview(const Json& v) {
  // dump() recurses; a hostile value nested millions deep must not reach it.
  if (v.is_structured()) {
    if (v.size() > 16) return absl::StrCat("<", v.type_name(), " of ", v.size(), ">");
    for (const Json& e : v) {
      if (e.is_structured()) return absl::StrCat("<", v.type_name(), " of ", v.size(), ">");
    }
  }
  std::string s = v.dump();
  if (s.size() > 64) s = s.substr(0, 61) + "...";
  return s;
}

// Typed reads from one JSON object. `prefix` names the enclosing object in messages
// ("rope_scaling." for nested keys).
class Reader {
 public:
  Reader(const Json& obj, std::string origin, std::string prefix)
      : obj_(obj), origin_(std::move(origin)), prefix_(std::move(prefix)) {}

  bool Has(const char* key) const { return obj_.contains(key) && !obj_.at(key).is_null(); }

  absl::Status Int(const char* key, bool required, int64_t* out) const {
    const Json* v = nullptr;
    FM_RETURN_IF_ERROR(Find(key, required, &v));
    if (v == nullptr) return absl::OkStatus();
    if (v->is_number_integer() && !v->is_number_unsigned()) {
      *out = v->get<int64_t>();
    } else if (v->is_number_unsigned()) {
      const uint64_t u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return TypeError(key, *v, "an int64 integer");
      *out = static_cast<int64_t>(u);
    } else {
      return TypeError(key, *v, "an integer");
    }
    return absl::OkStatus();
  }

  absl::Status Double(const char* key, bool required, double* out) const {
    const Json* v = nullptr;
    FM_RETURN_IF_ERROR(Find(key, required, &v));
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number()) return TypeError(key, *v, "a number");
    *out = v->get<double>();
    return absl::OkStatus();
  }

  absl::Status Bool(const char* key, bool required, bool* out) const {
    const Json* v = nullptr;
    FM_RETURN_IF_ERROR(Find(key, required, &v));
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_boolean()) return TypeError(key, *v, "true or false");
    *out = v->get<bool>();
    return absl::OkStatus();
  }

  absl::Status String(const char* key, bool required, std::string* out) const {
    const Json* v = nullptr;
    FM_RETURN_IF_ERROR(Find(key, required, &v));
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_string()) return TypeError(key, *v, "a string");
    *out = v->get<std::string>();
    return absl::OkStatus();
  }

  absl::Status IntList(const char* key, bool required, std::vector<int64_t>* out) const {
    const Json* v = nullptr;
    FM_RETURN_IF_ERROR(Find(key, required, &v));
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_array()) return TypeError(key, *v, "a list of integers");
    out->clear();
    for (const Json& e : *v) {
      if (!e.is_number_integer() ||
          (e.is_number_unsigned() && e.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
        return TypeError(key, *v, "a list of integers");
      }
      out->push_back(e.get<int64_t>());
    }
    return absl::OkStatus();
  }

  // The nested object at `key`, or nullptr when absent or null.
  absl::Status Object(const char* key, const Json** out) const {
    *out = nullptr;
    const Json* v = nullptr;
    FM_RETURN_IF_ERROR(Find(key, false, &v));
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_object()) return TypeError(key, *v, "an object");
    *out = v;
    return absl::OkStatus();
  }

 private:
  absl::Status Find(const char* key, bool required, const Json** out) const {
    *out = nullptr;
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) {
      if (required) {
        return absl::InvalidArgumentError(
            absl::StrCat(origin_, ": required key ", prefix_, key, " is missing"));
      }
      return absl::OkStatus();
    }
    *out = &*it;
    return absl::OkStatus();
  }

  absl::Status TypeError(const char* key, const Json& v, const char* expected) const {
    return absl::InvalidArgumentError(
        absl::StrCat(origin_, ": ", prefix_, key, "=", Preview(v), ": expected ", expected));
  }

  const Json& obj_;
  std::string origin_;
  std::string prefix_;
};

absl::Status ParseRopeScaling(const Json& obj, const std::string& origin, RopeScaling* out) {
  Reader r(obj, origin, "rope_scaling.");
  // HF configs spell the kind "type" or "rope_type".
  if (r.Has("type")) {
    FM_RETURN_IF_ERROR(r.String("type", true, &out->type));
  } else {
    FM_RETURN_IF_ERROR(r.String("rope_type", true, &out->type));
  }
  FM_RETURN_IF_ERROR(r.Double("factor", true, &out->factor));
  FM_RETURN_IF_ERROR(
      r.Int("original_max_position_embeddings", true, &out->original_max_position_embeddings));
  FM_RETURN_IF_ERROR(r.Double("beta_fast", false, &out->beta_fast));
  FM_RETURN_IF_ERROR(r.Double("beta_slow", false, &out->beta_slow));
  return absl::OkStatus();
}

absl::Status ParseQuantization(const Json& obj, const std::string& origin,
                               QuantizationConfig* out) {
  Reader r(obj, origin, "quantization_config.");
  out->present = true;
  FM_RETURN_IF_ERROR(r.String("quant_method", true, &out->quant_method));
  FM_RETURN_IF_ERROR(r.String("fmt", false, &out->fmt));
  FM_RETURN_IF_ERROR(r.String("scale_fmt", false, &out->scale_fmt));
  std::vector<int64_t> block = {out->weight_block_rows, out->weight_block_cols};
  FM_RETURN_IF_ERROR(r.IntList("weight_block_size", false, &block));
  if (block.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(origin,
                                                   ": quantization_config.weight_block_size has ",
                                                   block.size(), " entries: expected 2"));
  }
  out->weight_block_rows = block[0];
  out->weight_block_cols = block[1];
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseObject(const Json& root, const std::string& origin) {
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": top level is ", root.type_name(), ": expected a JSON object"));
  }
  ModelConfig c;
  Reader r(root, origin, "");
  FM_RETURN_IF_ERROR(r.Int("vocab_size", true, &c.vocab_size));
  FM_RETURN_IF_ERROR(r.Int("hidden_size", true, &c.hidden_size));
  FM_RETURN_IF_ERROR(r.Int("num_hidden_layers", true, &c.num_hidden_layers));
  FM_RETURN_IF_ERROR(r.Int("num_nextn_predict_layers", false, &c.num_nextn_predict_layers));
  FM_RETURN_IF_ERROR(r.Int("num_attention_heads", true, &c.num_attention_heads));
  FM_RETURN_IF_ERROR(r.Int("num_key_value_heads", false, &c.num_key_value_heads));
  FM_RETURN_IF_ERROR(r.Int("head_dim", true, &c.head_dim));
  FM_RETURN_IF_ERROR(r.Int("qk_rope_head_dim", true, &c.qk_rope_head_dim));
  FM_RETURN_IF_ERROR(r.Int("q_lora_rank", true, &c.q_lora_rank));
  FM_RETURN_IF_ERROR(r.Int("o_groups", true, &c.o_groups));
  FM_RETURN_IF_ERROR(r.Int("o_lora_rank", true, &c.o_lora_rank));
  FM_RETURN_IF_ERROR(r.Int("sliding_window", true, &c.sliding_window));
  FM_RETURN_IF_ERROR(r.IntList("compress_ratios", true, &c.compress_ratios));
  FM_RETURN_IF_ERROR(r.Int("index_n_heads", true, &c.index_n_heads));
  FM_RETURN_IF_ERROR(r.Int("index_head_dim", true, &c.index_head_dim));
  FM_RETURN_IF_ERROR(r.Int("index_topk", true, &c.index_topk));
  FM_RETURN_IF_ERROR(r.Double("rope_theta", false, &c.rope_theta));
  FM_RETURN_IF_ERROR(r.Double("compress_rope_theta", false, &c.compress_rope_theta));
  const Json* rope_scaling = nullptr;
  FM_RETURN_IF_ERROR(r.Object("rope_scaling", &rope_scaling));
  if (rope_scaling != nullptr) {
    FM_RETURN_IF_ERROR(ParseRopeScaling(*rope_scaling, origin, &c.rope_scaling));
  }
  FM_RETURN_IF_ERROR(r.Int("max_position_embeddings", true, &c.max_position_embeddings));
  FM_RETURN_IF_ERROR(r.Int("n_routed_experts", true, &c.n_routed_experts));
  FM_RETURN_IF_ERROR(r.Int("num_experts_per_tok", true, &c.num_experts_per_tok));
  FM_RETURN_IF_ERROR(r.Int("n_shared_experts", false, &c.n_shared_experts));
  FM_RETURN_IF_ERROR(r.Int("moe_intermediate_size", true, &c.moe_intermediate_size));
  FM_RETURN_IF_ERROR(r.Int("num_hash_layers", false, &c.num_hash_layers));
  FM_RETURN_IF_ERROR(r.String("scoring_func", false, &c.scoring_func));
  FM_RETURN_IF_ERROR(r.String("topk_method", false, &c.topk_method));
  FM_RETURN_IF_ERROR(r.Bool("norm_topk_prob", false, &c.norm_topk_prob));
  FM_RETURN_IF_ERROR(r.Double("routed_scaling_factor", false, &c.routed_scaling_factor));
  FM_RETURN_IF_ERROR(r.Double("swiglu_limit", false, &c.swiglu_limit));
  FM_RETURN_IF_ERROR(r.Int("hc_mult", false, &c.hc_mult));
  FM_RETURN_IF_ERROR(r.Int("hc_sinkhorn_iters", false, &c.hc_sinkhorn_iters));
  FM_RETURN_IF_ERROR(r.Double("hc_eps", false, &c.hc_eps));
  FM_RETURN_IF_ERROR(r.Double("rms_norm_eps", false, &c.rms_norm_eps));
  FM_RETURN_IF_ERROR(r.Bool("tie_word_embeddings", false, &c.tie_word_embeddings));
  FM_RETURN_IF_ERROR(r.Int("bos_token_id", false, &c.bos_token_id));
  FM_RETURN_IF_ERROR(r.Int("eos_token_id", false, &c.eos_token_id));
  FM_RETURN_IF_ERROR(r.String("hidden_act", false, &c.hidden_act));
  FM_RETURN_IF_ERROR(r.String("expert_dtype", false, &c.expert_dtype));
  const Json* quant = nullptr;
  FM_RETURN_IF_ERROR(r.Object("quantization_config", &quant));
  if (quant != nullptr) FM_RETURN_IF_ERROR(ParseQuantization(*quant, origin, &c.quantization));
  if (absl::Status s = c.Validate(); !s.ok()) {
    // Validate() names "config.json"; keep the caller's origin when it differs.
    if (origin == "config.json") return s;
    return Annotate(s, origin);
  }
  return c;
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& origin) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(origin, ": invalid JSON: ", e.what()));
  }
  try {
    return ParseObject(root, origin);
  } catch (const Json::exception& e) {
    // Every access above is type-checked first; this is a last line of defence.
    return absl::InvalidArgumentError(absl::StrCat(origin, ": ", e.what()));
  }
}

absl::StatusOr<ModelConfig> ReadModelConfig(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path.string(), ": config file not found"));
  }
  const auto file_bytes = std::filesystem::file_size(path, ec);
  // A config.json is a few KiB; refuse to slurp something that is clearly not one.
  constexpr uintmax_t kMaxConfigBytes = 16 << 20;
  if (ec || file_bytes > kMaxConfigBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path.string(), ": size ", file_bytes,
                                                   " bytes: expected a config of at most ",
                                                   kMaxConfigBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path.string(), ": cannot open"));
  std::ostringstream text;
  text << in.rdbuf();
  return ParseModelConfig(text.str(), path.filename().string());
}

std::string ModelConfigToJson(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {"DeepseekV4ForCausalLM"};
  j["model_type"] = "deepseek_v4";
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_nextn_predict_layers"] = c.num_nextn_predict_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["qk_rope_head_dim"] = c.qk_rope_head_dim;
  j["q_lora_rank"] = c.q_lora_rank;
  j["o_groups"] = c.o_groups;
  j["o_lora_rank"] = c.o_lora_rank;
  j["sliding_window"] = c.sliding_window;
  j["compress_ratios"] = c.compress_ratios;
  j["index_n_heads"] = c.index_n_heads;
  j["index_head_dim"] = c.index_head_dim;
  j["index_topk"] = c.index_topk;
  j["rope_theta"] = c.rope_theta;
  j["compress_rope_theta"] = c.compress_rope_theta;
  if (!c.rope_scaling.type.empty()) {
    nlohmann::ordered_json rs;
    rs["type"] = c.rope_scaling.type;
    rs["factor"] = c.rope_scaling.factor;
    rs["original_max_position_embeddings"] = c.rope_scaling.original_max_position_embeddings;
    rs["beta_fast"] = c.rope_scaling.beta_fast;
    rs["beta_slow"] = c.rope_scaling.beta_slow;
    j["rope_scaling"] = rs;
  }
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["n_routed_experts"] = c.n_routed_experts;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["n_shared_experts"] = c.n_shared_experts;
  j["moe_intermediate_size"] = c.moe_intermediate_size;
  j["num_hash_layers"] = c.num_hash_layers;
  j["scoring_func"] = c.scoring_func;
  j["topk_method"] = c.topk_method;
  j["norm_topk_prob"] = c.norm_topk_prob;
  j["routed_scaling_factor"] = c.routed_scaling_factor;
  j["swiglu_limit"] = c.swiglu_limit;
  j["hc_mult"] = c.hc_mult;
  j["hc_sinkhorn_iters"] = c.hc_sinkhorn_iters;
  j["hc_eps"] = c.hc_eps;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  j["hidden_act"] = c.hidden_act;
  j["torch_dtype"] = "bfloat16";
  if (!c.expert_dtype.empty()) j["expert_dtype"] = c.expert_dtype;
  if (c.quantization.present) {
    nlohmann::ordered_json q;
    q["quant_method"] = c.quantization.quant_method;
    if (!c.quantization.fmt.empty()) q["fmt"] = c.quantization.fmt;
    if (!c.quantization.scale_fmt.empty()) q["scale_fmt"] = c.quantization.scale_fmt;
    q["weight_block_size"] = {c.quantization.weight_block_rows, c.quantization.weight_block_cols};
    q["activation_scheme"] = "dynamic";
    j["quantization_config"] = q;
  }
  return j.dump(2) + "\n";
}

}  // namespace fm::rt
