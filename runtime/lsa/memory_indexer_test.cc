// Memory indexer tests on the synthetic "tiny" checkpoint (CSA layers 1 and 3 = CSA indices 0, 1):
// initialised from the native indexer it reproduces the native indexer's scores on the model's
// real stored keys (exactly, or scaled by the weight scale when heads are padded); retriever weights
// round-trip through safetensors; bad files give errors that name the tensor.

#include "runtime/lsa/memory_indexer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu/thread_pool.h"
#include "runtime/model/model.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/safetensors_writer.h"
#include "runtime/weights/synth.h"
#include "runtime/weights/test_util.h"

namespace fm::rt {
namespace {

class MemoryIndexerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::ScratchDir("lsa_mi_test");
    SynthOptions o;
    o.preset = "tiny";
    o.seed = 11;
    ASSERT_TRUE(WriteSynthCheckpoint(o, dir_->path() / "bf16").ok());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::unique_ptr<Model> LoadModel(KvMode mode) {
    ModelOptions options;
    options.kv_mode = mode;
    options.n_threads = 2;
    auto model = Model::Load(dir_->path() / "bf16", options);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? std::move(*model) : nullptr;
  }
  static std::unique_ptr<Checkpoint> OpenCheckpoint() {
    auto ck = Checkpoint::Open(dir_->path() / "bf16");
    EXPECT_TRUE(ck.ok()) << ck.status();
    return ck.ok() ? std::move(*ck) : nullptr;
  }
  static std::vector<int32_t> Tokens(int64_t n, int64_t vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& v : t) v = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
    return t;
  }

  // Runs a sequence of `n` tokens with h capture and tracing on both CSA layers, then compares the
  // indexer's logits for the last token with the native scores: max |logit - scale * native| must
  // be within tol * max |native|. Returns the number of layers compared.
  static int CompareWithNative(Model& model, MemoryIndexer& mi, KvMode mode, int64_t prefill,
                               int64_t decode, double scale, double tol) {
    const ModelConfig& c = model.config();
    auto seq = model.NewSequence();
    EXPECT_TRUE(seq->SetHiddenCapture(mi.model_layers()).ok());
    seq->SetIndexerTracing(true);
    const std::vector<int32_t> toks = Tokens(prefill + decode, c.vocab_size, 3);
    EXPECT_TRUE(seq->Prefill(absl::MakeConstSpan(toks).subspan(0, static_cast<size_t>(prefill)), 0,
                             nullptr)
                    .ok());
    for (int64_t t = prefill; t < prefill + decode; ++t) {
      EXPECT_TRUE(seq->Decode(toks[static_cast<size_t>(t)], nullptr).ok());
    }
    int compared = 0;
    for (int64_t t = 0; t < mi.n_targets(); ++t) {
      const int64_t layer = mi.target(t).model_layer;
      auto trace = seq->LastIndexerTrace(layer);
      EXPECT_TRUE(trace.ok()) << trace.status();
      if (!trace.ok()) continue;
      const int64_t n = seq->IndexKeyCount(layer);
      EXPECT_EQ(static_cast<int64_t>((*trace)->scores.size()), n) << "mode " << int(mode);
      EXPECT_EQ((*trace)->position, seq->length() - 1);
      std::vector<float> keys(static_cast<size_t>(n * c.index_head_dim)), logits(static_cast<size_t>(n));
      EXPECT_TRUE(seq->IndexKeys(layer, 0, n, keys.data()).ok());
      auto h = seq->CapturedHidden(layer);
      EXPECT_TRUE(h.ok()) << h.status();
      if (!h.ok()) continue;
      EXPECT_TRUE(mi.Logits(t, *h, seq->length() - 1, keys.data(), n, logits.data()).ok());
      double worst = 0.0, peak = 1e-30;
      for (int64_t j = 0; j < n; ++j) {
        const double native = (*trace)->scores[static_cast<size_t>(j)];
        worst = std::max(worst, std::fabs(logits[static_cast<size_t>(j)] - scale * native));
        peak = std::max(peak, std::fabs(scale * native));
      }
      EXPECT_GT(peak, 1e-6) << "native scores are all zero: the comparison would be vacuous";
      EXPECT_LE(worst, tol * peak) << "layer " << layer << " mode " << int(mode);
      ++compared;
    }
    return compared;
  }

  static testing::ScratchDir* dir_;
};
testing::ScratchDir* MemoryIndexerTest::dir_ = nullptr;

TEST_F(MemoryIndexerTest, DefaultTargetsAreTheReferenceLayersOrTheLastCsaLayers) {
  auto ck = OpenCheckpoint();
  ASSERT_NE(ck, nullptr);
  EXPECT_EQ(CsaModelLayers(ck->config()), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(DefaultTargetCsaIndices(ck->config()), (std::vector<int64_t>{0, 1}));
  ModelConfig flash;
  flash.num_hidden_layers = 43;
  flash.compress_ratios.assign(44, 128);
  for (int64_t l = 2; l < 43; l += 2) flash.compress_ratios[static_cast<size_t>(l)] = 4;
  const std::vector<int64_t> csa = CsaModelLayers(flash);
  ASSERT_EQ(csa.size(), 21u);
  EXPECT_EQ(DefaultTargetCsaIndices(flash), (std::vector<int64_t>{10, 12, 20}));
  EXPECT_EQ(csa[10], 22);
  EXPECT_EQ(csa[12], 26);
  EXPECT_EQ(csa[20], 42);
}

TEST_F(MemoryIndexerTest, NativeInitLogitsEqualNativeIndexerScoresOnStoredKeys) {
  auto ck = OpenCheckpoint();
  ASSERT_NE(ck, nullptr);
  auto mi = MemoryIndexer::FromNative(*ck, DefaultTargetCsaIndices(ck->config()), {});
  ASSERT_TRUE(mi.ok()) << mi.status();
  EXPECT_EQ((*mi)->target(0).n_heads, ck->config().index_n_heads);
  EXPECT_EQ((*mi)->target(0).rank, ck->config().q_lora_rank);
  // 80 tokens = 20 chunks > index_topk (8), so the native indexer scores every chunk.
  for (KvMode mode : {KvMode::kFp32, KvMode::kFp8}) {
    auto model = LoadModel(mode);
    ASSERT_NE(model, nullptr);
    EXPECT_EQ(CompareWithNative(*model, **mi, mode, 80, 0, 1.0, 1e-5), 2);
    EXPECT_EQ(CompareWithNative(*model, **mi, mode, 61, 23, 1.0, 1e-5), 2);
  }
}

TEST_F(MemoryIndexerTest, PaddedHeadsScaleLogitsByTheWeightScaleAndPaddedRankChangesNothing) {
  auto ck = OpenCheckpoint();
  ASSERT_NE(ck, nullptr);
  const ModelConfig& c = ck->config();
  NativeInitOptions o;
  o.n_heads = 2 * c.index_n_heads;
  o.rank = 2 * c.q_lora_rank;
  auto mi = MemoryIndexer::FromNative(*ck, {0, 1}, o);
  ASSERT_TRUE(mi.ok()) << mi.status();
  auto model = LoadModel(KvMode::kFp32);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(CompareWithNative(*model, **mi, KvMode::kFp32, 96, 0, std::sqrt(0.5), 1e-4), 2);

  o.n_heads = c.index_n_heads - 1;
  auto bad = MemoryIndexer::FromNative(*ck, {0}, o);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MemoryIndexer::FromNative(*ck, {2}, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Writes the weights of `mi` as a retriever file. Layer 0 uses the reference's names
// (`retrievers.l0.wq_a.weight`, `q_norm_weight`); layer 1 the bare variants (`retrievers.l1.wq_a`,
// `q_norm`), which must be accepted too.
void AddRetriever(const RetrieverWeights& w, int64_t hidden, int64_t di, bool bare,
                  SafetensorsWriter* out) {
  auto bytes = [](const std::vector<float>& v) {
    std::vector<uint8_t> b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
  };
  const std::string p = "retrievers.l" + std::to_string(w.csa_index) + ".";
  const std::string mat = bare ? "" : ".weight";
  out->Add(p + "wq_a" + mat, DType::kF32, {w.rank, hidden}, bytes(w.wq_a));
  out->Add(p + (bare ? "q_norm" : "q_norm_weight"), DType::kF32, {w.rank}, bytes(w.q_norm));
  out->Add(p + "wq_b" + mat, DType::kF32, {w.n_heads * di, w.rank}, bytes(w.wq_b));
  out->Add(p + "weights_proj" + mat, DType::kF32, {w.n_heads, hidden}, bytes(w.weights_proj));
}

TEST_F(MemoryIndexerTest, SafetensorsRoundTripGivesIdenticalLogits) {
  auto ck = OpenCheckpoint();
  ASSERT_NE(ck, nullptr);
  const ModelConfig& c = ck->config();
  NativeInitOptions o;
  o.n_heads = 8;  // a head count other than the native one: detected from weights_proj
  auto native = MemoryIndexer::FromNative(*ck, {0, 1}, o);
  ASSERT_TRUE(native.ok()) << native.status();
  SafetensorsWriter writer;
  AddRetriever((*native)->target(0), c.hidden_size, c.index_head_dim, false, &writer);
  AddRetriever((*native)->target(1), c.hidden_size, c.index_head_dim, true, &writer);
  const auto path = dir_->path() / "retriever.safetensors";
  ASSERT_TRUE(writer.WriteFile(path).ok());
  auto loaded = MemoryIndexer::FromSafetensors(path, c, {0, 1});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ((*loaded)->n_targets(), 2);
  EXPECT_EQ((*loaded)->target(1).n_heads, 8);
  EXPECT_EQ((*loaded)->model_layers(), (std::vector<int64_t>{1, 3}));

  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  std::vector<float> h(static_cast<size_t>(c.hidden_size)), keys(static_cast<size_t>(9 * c.index_head_dim));
  for (float& v : h) v = nd(rng);
  for (float& v : keys) v = nd(rng);
  for (int64_t t = 0; t < 2; ++t) {
    std::vector<float> a(9), b(9);
    ASSERT_TRUE((*native)->Logits(t, h, 300, keys.data(), 9, a.data()).ok());
    ASSERT_TRUE((*loaded)->Logits(t, h, 300, keys.data(), 9, b.data()).ok());
    EXPECT_EQ(a, b);
    kernels::cpu::ThreadPool pool(2);
    (*loaded)->UseThreadPool(&pool);
    ASSERT_TRUE((*loaded)->Logits(t, h, 300, keys.data(), 9, b.data()).ok());
    (*loaded)->UseThreadPool(nullptr);
    EXPECT_EQ(a, b) << "a thread pool changed the logits";
    ASSERT_TRUE((*loaded)->Probabilities(t, h, 300, keys.data(), 9, b.data()).ok());
    for (size_t j = 0; j < 9; ++j) {
      EXPECT_NEAR(b[j], 1.0 / (1.0 + std::exp(-static_cast<double>(a[j]))), 1e-6);
    }
  }
}

TEST_F(MemoryIndexerTest, BadRetrieverFilesGiveErrorsNamingTheTensor) {
  auto ck = OpenCheckpoint();
  ASSERT_NE(ck, nullptr);
  const ModelConfig& c = ck->config();
  auto native = MemoryIndexer::FromNative(*ck, {0}, {});
  ASSERT_TRUE(native.ok()) << native.status();
  const RetrieverWeights& w = (*native)->target(0);
  auto f32 = [](int64_t n) { return std::vector<uint8_t>(static_cast<size_t>(n * 4), 0); };
  auto write = [&](const std::string& file, const std::vector<int64_t>& wq_b_shape,
                   DType q_norm_dtype) {
    SafetensorsWriter wr;
    wr.Add("retrievers.l0.wq_a.weight", DType::kF32, {w.rank, c.hidden_size}, f32(w.rank * c.hidden_size));
    const int64_t qn_bytes = q_norm_dtype == DType::kF32 ? 4 : 1;
    wr.Add("retrievers.l0.q_norm_weight", q_norm_dtype, {w.rank},
           std::vector<uint8_t>(static_cast<size_t>(w.rank * qn_bytes), 0));
    if (!wq_b_shape.empty()) {
      wr.Add("retrievers.l0.wq_b.weight", DType::kF32, wq_b_shape,
             f32(wq_b_shape[0] * wq_b_shape[1]));
    }
    wr.Add("retrievers.l0.weights_proj.weight", DType::kF32, {w.n_heads, c.hidden_size},
           f32(w.n_heads * c.hidden_size));
    EXPECT_TRUE(wr.WriteFile(dir_->path() / file).ok());
    return dir_->path() / file;
  };
  const int64_t rows = w.n_heads * c.index_head_dim;

  auto shape = MemoryIndexer::FromSafetensors(write("bad_shape.safetensors", {rows + 1, w.rank}, DType::kF32), c, {0});
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(shape.status().message().find("retrievers.l0.wq_b.weight"), std::string::npos) << shape.status();
  EXPECT_NE(shape.status().message().find("bad_shape.safetensors"), std::string::npos) << shape.status();
  EXPECT_NE(shape.status().message().find("expected [" + std::to_string(rows) + ", "), std::string::npos)
      << shape.status();

  auto missing = MemoryIndexer::FromSafetensors(write("missing.safetensors", {}, DType::kF32), c, {0});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("retrievers.l0.wq_b"), std::string::npos) << missing.status();

  auto dtype = MemoryIndexer::FromSafetensors(write("dtype.safetensors", {rows, w.rank}, DType::kI8), c, {0});
  EXPECT_EQ(dtype.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(dtype.status().message().find("q_norm_weight"), std::string::npos) << dtype.status();

  auto good = write("good.safetensors", {rows, w.rank}, DType::kF32);
  EXPECT_TRUE(MemoryIndexer::FromSafetensors(good, c, {0}).ok());
  auto layer = MemoryIndexer::FromSafetensors(good, c, {1});
  EXPECT_EQ(layer.status().code(), absl::StatusCode::kNotFound) << layer.status();
  EXPECT_EQ(MemoryIndexer::FromSafetensors(good, c, {7}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MemoryIndexer::FromSafetensors(dir_->path() / "absent.safetensors", c, {0}).status().code(),
            absl::StatusCode::kNotFound);

  std::vector<float> h(static_cast<size_t>(c.hidden_size - 1)), out(1), key(static_cast<size_t>(c.index_head_dim));
  EXPECT_EQ((*native)->Logits(0, h, 0, key.data(), 1, out.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*native)->Logits(3, h, 0, key.data(), 1, out.data()).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fm::rt
