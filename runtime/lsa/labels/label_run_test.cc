// Label runs on the synthetic "tiny" checkpoint (CSA layers 1 and 3 = CSA indices 0 and 1, native
// top-k 8): the file holds exactly what a second, independent sequence fed the same tokens
// captures (bit-exact h, positions, index keys) and the golden sets computed directly from its
// Level-2 traces, including the early tokens whose every chunk is taken without a top-k (the
// trace still carries their full logits rows).

#include "runtime/lsa/labels/label_run.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/numeric_formats.h"
#include "runtime/lsa/labels/golden_set.h"
#include "runtime/lsa/labels/label_file.h"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/weights/test_util.h"
#include "runtime/lsa/tiny_model_test_util.h"

namespace fm::rt::labels {
namespace {

class LabelRunTest : public rt::testing::TinyModelTest<LabelRunTest> {
 public:
  static constexpr const char* kCheckpointTag = "lsa_label_run_test";
  static constexpr uint64_t kCheckpointSeed = 29;

 protected:
  static constexpr uint32_t kPromptSeed = 5;

  // Replays the run on a fresh sequence and compares every record, label and key of `path`.
  void ExpectFileMatchesReplay(const std::filesystem::path& path,
                               const std::vector<int32_t>& prompt, const LabelRunSummary& summary,
                               const LabelConstants& constants, HiddenDtype dtype,
                               int64_t prefill_chunk) {
    auto reader = LabelFileReader::Open(path);
    ASSERT_TRUE(reader.ok()) << reader.status();
    const LabelFileReader& r = **reader;
    ASSERT_TRUE(r.Validate().ok());
    const std::vector<int64_t> csa = CsaModelLayers(model_->config());
    ASSERT_EQ(csa, (std::vector<int64_t>{1, 3}));
    ASSERT_EQ(r.n_targets(), 2);
    EXPECT_EQ(r.header().targets[0].model_layer, 1);
    EXPECT_EQ(r.header().targets[1].model_layer, 3);
    EXPECT_EQ(r.header().n_csa_layers, 2);
    EXPECT_EQ(r.header().n_prompt_tokens, static_cast<int64_t>(prompt.size()));
    ASSERT_EQ(r.n_tokens(), static_cast<int64_t>(summary.generated.size()));

    auto seq = model_->NewSequence();
    ASSERT_TRUE(seq->SetHiddenCapture(csa).ok());
    // The same calls as the run, so every cache is bit-identical.
    const auto p = absl::MakeConstSpan(prompt);
    ASSERT_TRUE(seq->Prefill(p.subspan(0, p.size() - 1), prefill_chunk, nullptr).ok());
    ASSERT_TRUE(seq->Prefill(p.subspan(p.size() - 1), 1, nullptr).ok());
    seq->SetIndexerTracing(true);
    TokenRecord rec;
    int64_t unrestricted_steps = 0;
    for (int64_t t = 0; t < r.n_tokens(); ++t) {
      const int64_t position = seq->length();
      const int32_t token = summary.generated[static_cast<size_t>(t)];
      ASSERT_TRUE(seq->Decode(token, nullptr).ok());
      ASSERT_TRUE(r.ReadToken(t, &rec).ok());
      EXPECT_EQ(rec.position, position);
      EXPECT_EQ(rec.token, token);
      const int64_t n_blk = (position + 1) / 4;
      std::vector<std::vector<float>> rows;
      for (int64_t layer : csa) {
        auto trace = seq->LastIndexerTrace(layer);
        ASSERT_TRUE(trace.ok()) << trace.status();
        // Always the full row, also when every chunk is taken without a top-k (n_blk <= 8).
        ASSERT_EQ(static_cast<int64_t>((*trace)->scores.size()), n_blk) << "position " << position;
        if (n_blk <= model_->config().index_topk) {
          EXPECT_EQ(static_cast<int64_t>((*trace)->selected.size()), n_blk);
          ++unrestricted_steps;
        }
        rows.push_back((*trace)->scores);
      }
      std::vector<absl::Span<const float>> spans(rows.begin(), rows.end());
      auto golden = GoldenSet(spans, constants);
      ASSERT_TRUE(golden.ok()) << golden.status();
      EXPECT_EQ(rec.labels, *golden) << "token " << t;
      for (int64_t k = 0; k < 2; ++k) {
        auto h = seq->CapturedHidden(csa[static_cast<size_t>(k)]);
        ASSERT_TRUE(h.ok());
        const absl::Span<const float> got = rec.target_hidden(k, model_->config().hidden_size);
        for (size_t i = 0; i < h->size(); ++i) {
          const float want = dtype == HiddenDtype::kF32
                                 ? (*h)[i]
                                 : kernels::Bf16ToFloat(kernels::FloatToBf16((*h)[i]));
          ASSERT_EQ(std::memcmp(&got[i], &want, 4), 0)
              << "token " << t << " target " << k << " element " << i;
        }
      }
    }
    EXPECT_GT(unrestricted_steps, 0) << "no step exercised the n_blk <= top-k path";
    const int64_t n_chunks = seq->IndexKeyCount(1);
    EXPECT_EQ(r.counts().n_chunks, n_chunks);
    EXPECT_EQ(n_chunks, (static_cast<int64_t>(prompt.size()) + r.n_tokens()) / 4);
    for (int64_t k = 0; k < 2; ++k) {
      std::vector<float> want(static_cast<size_t>(n_chunks * model_->config().index_head_dim));
      ASSERT_TRUE(seq->IndexKeys(csa[static_cast<size_t>(k)], 0, n_chunks, want.data()).ok());
      auto keys = r.ReadIndexKeys(k);
      ASSERT_TRUE(keys.ok());
      EXPECT_EQ(std::memcmp(keys->data(), want.data(), want.size() * 4), 0) << "target " << k;
    }
  }
};

TEST_F(LabelRunTest, FileMatchesAnIndependentReplayF32) {
  rt::testing::ScratchDir dir("label_run_f32");
  // 4 chunks at the first decode step: no top-k.
  const std::vector<int32_t> prompt = Prompt(18, kPromptSeed);
  LabelRunOptions o;
  o.constants = {512, 0.6f, 1};  // θ = 1: tiny has only 2 CSA layers
  o.n_decode = 40;
  o.stop_at_eos = false;
  o.prefill_chunk = 7;
  const auto path = dir.path() / "doc.fmlabels";
  auto s = RunLabelDocument(*model_, prompt, o, path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->counts.n_tokens, 40);
  EXPECT_GE(s->counts.n_labels, 40);  // θ = 1: at least each layer's top-1 per token
  EXPECT_EQ(s->bytes_written, static_cast<int64_t>(std::filesystem::file_size(path)));
  ExpectFileMatchesReplay(path, prompt, *s, o.constants, HiddenDtype::kF32, o.prefill_chunk);
}

TEST_F(LabelRunTest, FileMatchesAnIndependentReplayBf16ThetaTwo) {
  rt::testing::ScratchDir dir("label_run_bf16");
  const std::vector<int32_t> prompt = Prompt(30, kPromptSeed);
  LabelRunOptions o;
  o.constants = {6, 0.8f, 2};
  o.hidden_dtype = HiddenDtype::kBf16;
  o.n_decode = 20;
  o.stop_at_eos = false;
  const auto path = dir.path() / "doc.fmlabels";
  auto s = RunLabelDocument(*model_, prompt, o, path);
  ASSERT_TRUE(s.ok()) << s.status();
  ExpectFileMatchesReplay(path, prompt, *s, o.constants, HiddenDtype::kBf16, o.prefill_chunk);
  // θ = 2 = every layer: each golden chunk has both votes.
  auto r = LabelFileReader::Open(path);
  ASSERT_TRUE(r.ok());
  TokenRecord rec;
  for (int64_t t = 0; t < (*r)->n_tokens(); ++t) {
    ASSERT_TRUE((*r)->ReadLabels(t, &rec).ok());
    for (const GoldenChunk& g : rec.labels) EXPECT_EQ(g.votes, 2);
  }
}

TEST_F(LabelRunTest, RejectsBadOptions) {
  rt::testing::ScratchDir dir("label_run_bad");
  LabelRunOptions o;
  o.n_decode = 2;
  o.target_csa_indices = {2};  // tiny has CSA indices 0 and 1
  const std::vector<int32_t> prompt = Prompt(8, kPromptSeed);
  auto s = RunLabelDocument(*model_, prompt, o, dir.path() / "a.fmlabels");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("target CSA index 2"), std::string::npos) << s.status();
  o.target_csa_indices = {0, 0};
  EXPECT_FALSE(RunLabelDocument(*model_, prompt, o, dir.path() / "a.fmlabels").ok());
  o.target_csa_indices = {};
  EXPECT_FALSE(RunLabelDocument(*model_, {}, o, dir.path() / "a.fmlabels").ok());
  o.n_decode = 2000;  // beyond max_position_embeddings 1024
  EXPECT_FALSE(RunLabelDocument(*model_, prompt, o, dir.path() / "a.fmlabels").ok());
  o.n_decode = 2;
  o.constants.min_layers = 0;
  EXPECT_FALSE(RunLabelDocument(*model_, prompt, o, dir.path() / "a.fmlabels").ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "a.fmlabels"));
}

}  // namespace
}  // namespace fm::rt::labels
