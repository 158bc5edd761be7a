#include "runtime/config/model_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace fm::rt {
namespace {

// The public Flash config.json (values of CHECKPOINT_FORMAT.md §2), plus an unknown key.
nlohmann::json FlashJson() {
  std::vector<int> ratios = {0, 0};
  for (int l = 2; l < 43; ++l) ratios.push_back(l % 2 == 0 ? 4 : 128);
  ratios.push_back(0);
  return {
      {"architectures", {"DeepseekV4ForCausalLM"}},
      {"model_type", "deepseek_v4"},
      {"vocab_size", 129280},
      {"hidden_size", 4096},
      {"num_hidden_layers", 43},
      {"num_nextn_predict_layers", 1},
      {"num_attention_heads", 64},
      {"num_key_value_heads", 1},
      {"head_dim", 512},
      {"qk_rope_head_dim", 64},
      {"q_lora_rank", 1024},
      {"o_groups", 8},
      {"o_lora_rank", 1024},
      {"sliding_window", 128},
      {"compress_ratios", ratios},
      {"index_n_heads", 64},
      {"index_head_dim", 128},
      {"index_topk", 512},
      {"rope_theta", 10000},
      {"compress_rope_theta", 160000},
      {"rope_scaling",
       {{"type", "yarn"},
        {"factor", 16},
        {"original_max_position_embeddings", 65536},
        {"beta_fast", 32},
        {"beta_slow", 1}}},
      {"max_position_embeddings", 1048576},
      {"n_routed_experts", 256},
      {"num_experts_per_tok", 6},
      {"n_shared_experts", 1},
      {"moe_intermediate_size", 2048},
      {"num_hash_layers", 3},
      {"scoring_func", "sqrtsoftplus"},
      {"topk_method", "noaux_tc"},
      {"norm_topk_prob", true},
      {"routed_scaling_factor", 1.5},
      {"swiglu_limit", 10.0},
      {"hc_mult", 4},
      {"hc_sinkhorn_iters", 20},
      {"hc_eps", 1e-6},
      {"rms_norm_eps", 1e-6},
      {"tie_word_embeddings", false},
      {"bos_token_id", 0},
      {"eos_token_id", 1},
      {"hidden_act", "silu"},
      {"torch_dtype", "bfloat16"},
      {"expert_dtype", "fp4"},
      {"quantization_config",
       {{"quant_method", "fp8"},
        {"fmt", "e4m3"},
        {"scale_fmt", "ue8m0"},
        {"weight_block_size", {128, 128}},
        {"activation_scheme", "dynamic"}}},
      {"some_future_key", {{"nested", 1}}},
  };
}

TEST(ModelConfigTest, ParsesTheFlashConfigWithEveryKey) {
  auto c = ParseModelConfig(FlashJson().dump(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vocab_size, 129280);
  EXPECT_EQ(c->hidden_size, 4096);
  EXPECT_EQ(c->num_hidden_layers, 43);
  EXPECT_EQ(c->num_nextn_predict_layers, 1);
  EXPECT_EQ(c->head_dim, 512);
  EXPECT_EQ(c->nope_head_dim(), 448);
  EXPECT_EQ(c->hc_dim(), 24);
  EXPECT_EQ(c->compress_ratios.size(), 44u);
  EXPECT_EQ(c->compress_ratio(2), 4);
  EXPECT_TRUE(c->is_csa(2));
  EXPECT_TRUE(c->is_hca(3));
  EXPECT_FALSE(c->is_hca(0));
  EXPECT_TRUE(c->is_hash_layer(2));
  EXPECT_FALSE(c->is_hash_layer(3));
  EXPECT_EQ(c->rope_scaling.type, "yarn");
  EXPECT_DOUBLE_EQ(c->rope_scaling.factor, 16.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 65536);
  EXPECT_DOUBLE_EQ(c->compress_rope_theta, 160000.0);
  EXPECT_DOUBLE_EQ(c->routed_scaling_factor, 1.5);
  EXPECT_DOUBLE_EQ(c->swiglu_limit, 10.0);
  EXPECT_EQ(c->index_topk, 512);
  EXPECT_TRUE(c->quantization.present);
  EXPECT_EQ(c->quantization.weight_block_rows, 128);
  EXPECT_EQ(c->expert_dtype, "fp4");
}

TEST(ModelConfigTest, ToJsonRoundTrips) {
  auto c = ParseModelConfig(FlashJson().dump(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string text = ModelConfigToJson(*c);
  auto back = ParseModelConfig(text, "config.json");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ModelConfigToJson(*back), text);
  EXPECT_EQ(back->compress_ratios, c->compress_ratios);
  EXPECT_DOUBLE_EQ(back->hc_eps, 1e-6);
  EXPECT_TRUE(back->quantization.present);
}

TEST(ModelConfigTest, OptionalKeysTakeDefaults) {
  nlohmann::json j = FlashJson();
  for (const char* k : {"quantization_config", "rope_scaling", "expert_dtype", "num_hash_layers",
                        "num_key_value_heads", "scoring_func"}) {
    j.erase(k);
  }
  auto c = ParseModelConfig(j.dump(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->quantization.present);
  EXPECT_TRUE(c->rope_scaling.type.empty());
  EXPECT_EQ(c->num_hash_layers, 0);
  EXPECT_EQ(c->num_key_value_heads, 1);
}

struct BadCase {
  const char* key;       // top-level key to set (or nested "a.b")
  nlohmann::json value;  // value to put there
  absl::StatusCode code;
  const char* must_contain;  // substring of the message
};

void SetPath(nlohmann::json& j, const std::string& key, const nlohmann::json& v) {
  const size_t dot = key.find('.');
  if (dot == std::string::npos) {
    j[key] = v;
  } else {
    j[key.substr(0, dot)][key.substr(dot + 1)] = v;
  }
}

TEST(ModelConfigTest, EachBadValueIsAnErrorNamingTheKeyAndValue) {
  const auto kInv = absl::StatusCode::kInvalidArgument;
  const BadCase cases[] = {
      {"hidden_size", "4096", kInv, "hidden_size=\"4096\""},
      {"hidden_size", 0, kInv, "hidden_size=0"},
      {"vocab_size", -5, kInv, "vocab_size=-5"},
      {"hidden_size", 4096.5, kInv, "hidden_size=4096.5"},
      {"num_hidden_layers", 0, kInv, "num_hidden_layers=0"},
      {"head_dim", 64, kInv, "head_dim=64"},
      {"qk_rope_head_dim", 63, kInv, "qk_rope_head_dim=63"},
      {"o_groups", 7, kInv, "o_groups=7"},
      {"compress_ratios", {0, 0, 4}, kInv, "compress_ratios"},
      {"compress_ratios", "4", kInv, "compress_ratios"},
      {"num_experts_per_tok", 300, kInv, "num_experts_per_tok=300"},
      {"num_key_value_heads", 8, absl::StatusCode::kUnimplemented, "num_key_value_heads=8"},
      {"scoring_func", "softmax", kInv, "scoring_func=softmax"},
      {"topk_method", "greedy", kInv, "topk_method=greedy"},
      {"hidden_act", "gelu", kInv, "hidden_act=gelu"},
      {"rope_scaling.type", "linear", kInv, "rope_scaling.type=linear"},
      {"rope_scaling.factor", "16", kInv, "rope_scaling.factor"},
      {"num_hash_layers", 44, kInv, "num_hash_layers=44"},
      {"sliding_window", 0, kInv, "sliding_window=0"},
      {"index_topk", 0, kInv, "index_topk=0"},
      {"hc_mult", 0, kInv, "hc_mult=0"},
      {"rms_norm_eps", 0, kInv, "rms_norm_eps=0"},
      {"norm_topk_prob", 1, kInv, "norm_topk_prob=1"},
      {"expert_dtype", "int3", kInv, "expert_dtype=int3"},
      {"quantization_config.weight_block_size",
       {64, 64},
       absl::StatusCode::kUnimplemented,
       "weight_block_size=[64,64]"},
      {"quantization_config.quant_method", "awq", absl::StatusCode::kUnimplemented, "awq"},
      {"eos_token_id", 200000, kInv, "eos_token_id=200000"},
      {"swiglu_limit", -1, kInv, "swiglu_limit=-1"},
      {"index_head_dim", 64, kInv, "index_head_dim=64"},
  };
  for (const BadCase& bc : cases) {
    nlohmann::json j = FlashJson();
    SetPath(j, bc.key, bc.value);
    auto c = ParseModelConfig(j.dump(), "config.json");
    ASSERT_FALSE(c.ok()) << bc.key << " = " << bc.value.dump();
    EXPECT_EQ(c.status().code(), bc.code) << c.status();
    EXPECT_NE(c.status().message().find(bc.must_contain), std::string::npos)
        << "message '" << c.status().message() << "' lacks '" << bc.must_contain << "'";
  }
}

TEST(ModelConfigTest, CompressRatioOneIsRejectedWithItsIndex) {
  nlohmann::json j = FlashJson();
  j["compress_ratios"][5] = 1;
  auto c = ParseModelConfig(j.dump(), "config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("compress_ratios[5]=1"), std::string::npos) << c.status();
}

TEST(ModelConfigTest, AnyHcaRatioAtLeastTwoIsAccepted) {
  nlohmann::json j = FlashJson();
  j["compress_ratios"][3] = 16;
  auto c = ParseModelConfig(j.dump(), "config.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->is_hca(3));
}

TEST(ModelConfigTest, DeeplyNestedValueIsATypeError) {
  nlohmann::json j = FlashJson();
  const std::string text = j.dump();
  const int depth = 1000000;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  // Replace the value of hidden_size with the nested list.
  const std::string key = "\"hidden_size\":4096";
  const size_t at = text.find(key);
  ASSERT_NE(at, std::string::npos);
  const std::string bad =
      text.substr(0, at) + "\"hidden_size\":" + nested + text.substr(at + key.size());
  auto c = ParseModelConfig(bad, "config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("hidden_size=<array of 1>"), std::string::npos) << c.status();
}

TEST(ModelConfigTest, MissingRequiredKeyIsNamed) {
  nlohmann::json j = FlashJson();
  j.erase("q_lora_rank");
  auto c = ParseModelConfig(j.dump(), "my.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("my.json"), std::string::npos);
  EXPECT_NE(c.status().message().find("q_lora_rank"), std::string::npos);
}

TEST(ModelConfigTest, InvalidJsonAndNonObjectAreErrors) {
  EXPECT_EQ(ParseModelConfig("{\"vocab_size\": 12,", "config.json").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseModelConfig("[1, 2]", "config.json").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseModelConfig("", "config.json").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ModelConfigTest, ReadModelConfigReportsMissingFileAsNotFound) {
  auto c = ReadModelConfig("/nonexistent-dir-fm/config.json");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
}

TEST(ModelConfigTest, ReadModelConfigReadsAFile) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("fm_model_config_test_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out(path);
    out << FlashJson().dump(2);
  }
  auto c = ReadModelConfig(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->n_routed_experts, 256);
}

}  // namespace
}  // namespace fm::rt
