#include "runtime/weights/synth.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/linear.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/test_util.h"

namespace fm::rt {
namespace {

using testing::ReadBytes;
using testing::ScratchDir;

struct Expected {
  DType dtype;
  std::vector<int64_t> shape;
};

// The tensor list of CHECKPOINT_FORMAT.md §3, written from the spec's formulas independently of
// synth.cc, so the two can disagree.
std::map<std::string, Expected> ExpectedTensors(const ModelConfig& c, bool fp8) {
  std::map<std::string, Expected> m;
  const int64_t d = c.hidden_size, V = c.vocab_size, n = c.hc_mult, hc = (2 + n) * n;
  auto lin = [&](const std::string& stem, int64_t r, int64_t k) {
    if (fp8) {
      m[stem + ".weight"] = {DType::kF8E4M3, {r, k}};
      m[stem + ".scale"] = {DType::kF8E8M0, {(r + 127) / 128, (k + 127) / 128}};
    } else {
      m[stem + ".weight"] = {DType::kBF16, {r, k}};
    }
  };
  auto expert = [&](const std::string& stem, int64_t r, int64_t k) {
    if (fp8) {
      m[stem + ".weight"] = {DType::kI8, {r, k / 2}};
      m[stem + ".scale"] = {DType::kF8E8M0, {r, k / 32}};
    } else {
      m[stem + ".weight"] = {DType::kBF16, {r, k}};
    }
  };
  auto bf16 = [&](const std::string& name, std::vector<int64_t> s) {
    m[name] = {DType::kBF16, std::move(s)};
  };
  auto f32 = [&](const std::string& name, std::vector<int64_t> s) {
    m[name] = {DType::kF32, std::move(s)};
  };
  auto head = [&](const std::string& p) {
    f32(p + "hc_head_fn", {n, n * d});
    f32(p + "hc_head_base", {n});
    f32(p + "hc_head_scale", {1});
  };
  bf16("embed.weight", {V, d});
  bf16("head.weight", {V, d});
  bf16("norm.weight", {d});
  head("");
  const int64_t H = c.num_attention_heads, D = c.head_dim, q = c.q_lora_rank;
  const int64_t G = c.o_groups, R = c.o_lora_rank, E = c.n_routed_experts;
  const int64_t I = c.moe_intermediate_size, HI = c.index_n_heads, DI = c.index_head_dim;
  const int64_t blocks = c.num_hidden_layers + c.num_nextn_predict_layers;
  for (int64_t b = 0; b < blocks; ++b) {
    const bool mtp = b >= c.num_hidden_layers;
    const std::string p =
        mtp ? absl::StrCat("mtp.", b - c.num_hidden_layers, ".") : absl::StrCat("layers.", b, ".");
    bf16(p + "attn_norm.weight", {d});
    bf16(p + "ffn_norm.weight", {d});
    for (const char* s : {"hc_attn", "hc_ffn"}) {
      f32(p + s + "_fn", {hc, n * d});
      f32(p + s + "_base", {hc});
      f32(p + s + "_scale", {3});
    }
    lin(p + "attn.wq_a", q, d);
    bf16(p + "attn.q_norm.weight", {q});
    lin(p + "attn.wq_b", H * D, q);
    lin(p + "attn.wkv", D, d);
    bf16(p + "attn.kv_norm.weight", {D});
    lin(p + "attn.wo_a", G * R, H * D / G);
    lin(p + "attn.wo_b", d, G * R);
    f32(p + "attn.attn_sink", {H});
    const int64_t ratio = c.compress_ratios[b];
    if (ratio > 0) {
      const int64_t cp = ratio == 4 ? 2 : 1;
      bf16(p + "attn.compressor.wkv.weight", {cp * D, d});
      bf16(p + "attn.compressor.wgate.weight", {cp * D, d});
      f32(p + "attn.compressor.ape", {ratio, cp * D});
      bf16(p + "attn.compressor.norm.weight", {D});
    }
    if (ratio == 4) {
      lin(p + "attn.indexer.wq_b", HI * DI, q);
      bf16(p + "attn.indexer.weights_proj.weight", {HI, d});
      bf16(p + "attn.indexer.compressor.wkv.weight", {2 * DI, d});
      bf16(p + "attn.indexer.compressor.wgate.weight", {2 * DI, d});
      f32(p + "attn.indexer.compressor.ape", {4, 2 * DI});
      bf16(p + "attn.indexer.compressor.norm.weight", {DI});
    }
    bf16(p + "ffn.gate.weight", {E, d});
    if (!mtp && b < c.num_hash_layers) {
      m[p + "ffn.gate.tid2eid"] = {DType::kI64, {V, c.num_experts_per_tok}};
    } else {
      f32(p + "ffn.gate.bias", {E});
    }
    lin(p + "ffn.shared_experts.w1", I, d);
    lin(p + "ffn.shared_experts.w3", I, d);
    lin(p + "ffn.shared_experts.w2", d, I);
    for (int64_t e = 0; e < E; ++e) {
      expert(absl::StrCat(p, "ffn.experts.", e, ".w1"), I, d);
      expert(absl::StrCat(p, "ffn.experts.", e, ".w3"), I, d);
      expert(absl::StrCat(p, "ffn.experts.", e, ".w2"), d, I);
    }
    if (mtp) {
      lin(p + "e_proj", d, d);
      lin(p + "h_proj", d, d);
      bf16(p + "enorm.weight", {d});
      bf16(p + "hnorm.weight", {d});
      bf16(p + "norm.weight", {d});
      head(p);
    }
  }
  return m;
}

double Rms(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s / static_cast<double>(v.size()));
}

// Every row of a linear weight, dequantised.
std::vector<float> Dequant(const Checkpoint& ck, const std::string& name, int64_t rows,
                           int64_t cols) {
  auto view = ck.GetWeight(name, rows, cols);
  EXPECT_TRUE(view.ok()) << view.status();
  if (!view.ok()) return {};
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) kernels::cpu::DequantRow(*view, r, out.data() + r * cols);
  return out;
}

class SynthTinyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SynthTinyTest, HasExactlyTheDocumentedTensorsWithTheirShapesAndDtypes) {
  ScratchDir dir("synth_tiny");
  SynthOptions o;
  o.weights = GetParam();
  ASSERT_TRUE(WriteSynthCheckpoint(o, dir.path()).ok());
  auto ck = Checkpoint::Open(dir.path());
  ASSERT_TRUE(ck.ok()) << ck.status();
  const ModelConfig& c = (*ck)->config();
  EXPECT_EQ(c.quantization.present, o.weights == "fp8");
  const auto expected = ExpectedTensors(c, o.weights == "fp8");
  std::set<std::string> expected_names;
  for (const auto& [name, e] : expected) {
    expected_names.insert(name);
    auto t = (*ck)->GetChecked(name, e.shape, {e.dtype});
    EXPECT_TRUE(t.ok()) << t.status();
  }
  const auto names = (*ck)->TensorNames();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), expected_names);
}

TEST_P(SynthTinyTest, LinearWeightsHaveStdNearOneOverSqrtFanIn) {
  ScratchDir dir("synth_stats");
  SynthOptions o;
  o.weights = GetParam();
  ASSERT_TRUE(WriteSynthCheckpoint(o, dir.path()).ok());
  auto ck = Checkpoint::Open(dir.path());
  ASSERT_TRUE(ck.ok()) << ck.status();
  const ModelConfig& c = (*ck)->config();
  struct W {
    std::string name;
    int64_t rows, cols;
  };
  const W weights[] = {
      {"layers.1.attn.wq_b.weight", c.num_attention_heads * c.head_dim, c.q_lora_rank},
      {"layers.2.attn.wo_a.weight", c.o_groups * c.o_lora_rank,
       c.num_attention_heads * c.head_dim / c.o_groups},
      {"layers.3.ffn.shared_experts.w2.weight", c.hidden_size, c.moe_intermediate_size},
      {"layers.3.ffn.experts.5.w1.weight", c.moe_intermediate_size, c.hidden_size},
      {"layers.4.ffn.experts.0.w2.weight", c.hidden_size, c.moe_intermediate_size},
      {"mtp.0.e_proj.weight", c.hidden_size, c.hidden_size},
  };
  for (const W& w : weights) {
    const std::vector<float> v = Dequant(**ck, w.name, w.rows, w.cols);
    ASSERT_FALSE(v.empty());
    const double want = 1.0 / std::sqrt(static_cast<double>(w.cols));
    const double rms = Rms(v);
    EXPECT_GT(rms, want / 1.6) << w.name;
    EXPECT_LT(rms, want * 1.6) << w.name;
    for (float x : v) ASSERT_TRUE(std::isfinite(x)) << w.name;
  }
  auto embed = (*ck)->GetFloats("embed.weight", {c.vocab_size, c.hidden_size});
  ASSERT_TRUE(embed.ok());
  EXPECT_NEAR(Rms(*embed), 1.0, 0.05);
  auto norm = (*ck)->GetFloats("layers.0.attn_norm.weight", {c.hidden_size});
  ASSERT_TRUE(norm.ok());
  for (float x : *norm) {
    EXPECT_GT(x, 0.5f);
    EXPECT_LT(x, 1.5f);
  }
}

INSTANTIATE_TEST_SUITE_P(Weights, SynthTinyTest, ::testing::Values("bf16", "fp8"));

TEST(SynthTest, Fp8CodesAreNeverNanAndScalesAreSensible) {
  ScratchDir dir("synth_codes");
  SynthOptions o;
  o.weights = "fp8";
  ASSERT_TRUE(WriteSynthCheckpoint(o, dir.path()).ok());
  auto ck = Checkpoint::Open(dir.path());
  ASSERT_TRUE(ck.ok()) << ck.status();
  int64_t fp8_tensors = 0, scale_tensors = 0;
  std::set<uint8_t> scale_values;
  for (const std::string& name : (*ck)->TensorNames()) {
    auto t = (*ck)->Get(name);
    ASSERT_TRUE(t.ok());
    if (t->dtype == DType::kF8E4M3) {
      ++fp8_tensors;
      for (int64_t i = 0; i < t->nbytes; ++i) {
        ASSERT_NE(t->data[i] & 0x7f, 0x7f) << name << " byte " << i << " is a NaN code";
      }
    } else if (t->dtype == DType::kF8E8M0) {
      ++scale_tensors;
      for (int64_t i = 0; i < t->nbytes; ++i) {
        ASSERT_GE(t->data[i], 110) << name;
        ASSERT_LE(t->data[i], 130) << name;
        scale_values.insert(t->data[i]);
      }
    }
  }
  EXPECT_GT(fp8_tensors, 0);
  EXPECT_GT(scale_tensors, fp8_tensors);  // experts add MXFP4 scales
  EXPECT_GE(scale_values.size(), 3u);     // scales vary per block
}

TEST(SynthTest, HashLayersRouteEveryTokenToDistinctExperts) {
  ScratchDir dir("synth_hash");
  ASSERT_TRUE(WriteSynthCheckpoint(SynthOptions{}, dir.path()).ok());
  auto ck = Checkpoint::Open(dir.path());
  ASSERT_TRUE(ck.ok()) << ck.status();
  const ModelConfig& c = (*ck)->config();
  ASSERT_GE(c.num_hash_layers, 1);
  const int64_t k = c.num_experts_per_tok;
  std::set<int32_t> used;
  for (int64_t l = 0; l < c.num_hash_layers; ++l) {
    auto t = (*ck)->GetIndexTable(absl::StrCat("layers.", l, ".ffn.gate.tid2eid"),
                                  {c.vocab_size, k}, c.n_routed_experts);
    ASSERT_TRUE(t.ok()) << t.status();
    for (int64_t r = 0; r < c.vocab_size; ++r) {
      std::set<int32_t> row(t->begin() + r * k, t->begin() + (r + 1) * k);
      ASSERT_EQ(static_cast<int64_t>(row.size()), k) << "row " << r;
      used.insert(row.begin(), row.end());
    }
  }
  EXPECT_EQ(static_cast<int64_t>(used.size()), c.n_routed_experts);
}

TEST(SynthTest, SameSeedGivesIdenticalBytesAndShardingKeepsContents) {
  ScratchDir a("synth_a"), b("synth_b"), s("synth_s"), other("synth_o");
  SynthOptions o;
  o.weights = "fp8";
  ASSERT_TRUE(WriteSynthCheckpoint(o, a.path()).ok());
  ASSERT_TRUE(WriteSynthCheckpoint(o, b.path()).ok());
  EXPECT_EQ(ReadBytes(a.path() / "model.safetensors"), ReadBytes(b.path() / "model.safetensors"));
  EXPECT_EQ(ReadBytes(a.path() / "config.json"), ReadBytes(b.path() / "config.json"));

  o.shards = 3;
  ASSERT_TRUE(WriteSynthCheckpoint(o, s.path()).ok());
  EXPECT_TRUE(std::filesystem::exists(s.path() / "model.safetensors.index.json"));
  auto single = Checkpoint::Open(a.path());
  auto sharded = Checkpoint::Open(s.path());
  ASSERT_TRUE(single.ok() && sharded.ok()) << sharded.status();
  ASSERT_EQ((*single)->TensorNames(), (*sharded)->TensorNames());
  for (const std::string& name : (*single)->TensorNames()) {
    auto x = (*single)->Get(name);
    auto y = (*sharded)->Get(name);
    ASSERT_EQ(x->nbytes, y->nbytes);
    ASSERT_EQ(std::memcmp(x->data, y->data, static_cast<size_t>(x->nbytes)), 0) << name;
  }

  o.shards = 1;
  o.seed = 2;
  ASSERT_TRUE(WriteSynthCheckpoint(o, other.path()).ok());
  EXPECT_NE(ReadBytes(a.path() / "model.safetensors"),
            ReadBytes(other.path() / "model.safetensors"));
}

TEST(SynthTest, RewritingADirectoryReplacesAnOldShardedCheckpoint) {
  ScratchDir dir("synth_rewrite");
  SynthOptions o;
  o.shards = 2;
  ASSERT_TRUE(WriteSynthCheckpoint(o, dir.path()).ok());
  o.shards = 1;
  ASSERT_TRUE(WriteSynthCheckpoint(o, dir.path()).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "model.safetensors.index.json"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "model-00001-of-00002.safetensors"));
  EXPECT_TRUE(Checkpoint::Open(dir.path()).ok());
}

TEST(SynthTest, PresetConfigs) {
  SynthOptions o;
  auto tiny = SynthConfig(o);
  ASSERT_TRUE(tiny.ok());
  // Every feature: SWA-only, CSA and HCA layers; hash and learned routing; MTP.
  EXPECT_TRUE(tiny->compress_ratio(0) == 0 && tiny->is_csa(1) && tiny->is_hca(2));
  EXPECT_GT(tiny->num_hash_layers, 0);
  EXPECT_LT(tiny->num_hash_layers, tiny->num_hidden_layers);
  EXPECT_GT(tiny->num_nextn_predict_layers, 0);
  EXPECT_EQ(tiny->rope_scaling.type, "yarn");

  o.preset = "small";
  auto small = SynthConfig(o);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_TRUE(small->is_csa(1) && small->compress_ratio(2) == 128);

  o.preset = "flash-slice";
  auto slice = SynthConfig(o);
  ASSERT_TRUE(slice.ok()) << slice.status();
  EXPECT_EQ(slice->compress_ratios, (std::vector<int64_t>{4, 128, 0}));
  EXPECT_EQ(slice->num_hash_layers, 1);
  EXPECT_EQ(slice->hidden_size, 4096);
  EXPECT_EQ(slice->vocab_size, 129280);
  o.layers = 5;
  EXPECT_EQ(SynthConfig(o)->compress_ratios, (std::vector<int64_t>{4, 128, 4, 128, 4, 0}));
  o.layers = 44;
  EXPECT_EQ(SynthConfig(o).status().code(), absl::StatusCode::kInvalidArgument);

  SynthOptions bad;
  bad.layers = 3;  // tiny has a fixed depth
  EXPECT_EQ(SynthConfig(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = SynthOptions{};
  bad.preset = "huge";
  EXPECT_NE(SynthConfig(bad).status().message().find("huge"), std::string::npos);
  bad = SynthOptions{};
  bad.weights = "int4";
  EXPECT_NE(SynthConfig(bad).status().message().find("int4"), std::string::npos);
  bad = SynthOptions{};
  bad.shards = 0;
  EXPECT_EQ(SynthConfig(bad).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fm::rt
