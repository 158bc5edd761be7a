// Model-level tests on the synthetic "tiny" checkpoint (SWA-only, CSA ratio 4 with the indexer,
// HCA ratio 16, hash and learned routing, MTP): prefill == chunked prefill == prefill + decode in
// both KV modes, over sequences longer than the window and several HCA chunks; the MTP draft is
// path independent; bad input gives clear errors.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/model/model.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/safetensors_writer.h"
#include "runtime/weights/synth.h"
#include "runtime/weights/test_util.h"

namespace fm::rt {
namespace {

class ModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::ScratchDir("model_test");
    SynthOptions o;
    o.preset = "tiny";
    o.seed = 7;
    ASSERT_TRUE(WriteSynthCheckpoint(o, dir_->path() / "bf16").ok());
    o.weights = "fp8";
    ASSERT_TRUE(WriteSynthCheckpoint(o, dir_->path() / "fp8").ok());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static std::unique_ptr<Model> LoadModel(const std::string& which, KvMode mode, int threads = 2) {
    ModelOptions options;
    options.kv_mode = mode;
    options.n_threads = threads;
    auto model = Model::Load(dir_->path() / which, options);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? std::move(*model) : nullptr;
  }

  static std::vector<int32_t> Tokens(int64_t n, int64_t vocab, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<int32_t> t(static_cast<size_t>(n));
    for (auto& v : t) v = static_cast<int32_t>(rng() % static_cast<uint32_t>(vocab));
    return t;
  }

  // max |a - b| / max |a|.
  static double RelDiff(const std::vector<float>& a, const std::vector<float>& b) {
    double num = 0.0, den = 1e-30;
    for (size_t i = 0; i < a.size(); ++i) {
      num = std::max(num, static_cast<double>(std::fabs(a[i] - b[i])));
      den = std::max(den, static_cast<double>(std::fabs(a[i])));
    }
    return num / den;
  }

  // Logits of `tokens` three ways: one prefill, prefill in chunks of 7, and prefill of the first
  // `split` tokens then one-token decodes. Returns the worst relative difference to the first.
  static double PathDifference(Model& model, const std::vector<int32_t>& tokens, int64_t split) {
    const int64_t n = static_cast<int64_t>(tokens.size()), vocab = model.config().vocab_size;
    std::vector<float> full(static_cast<size_t>(n * vocab)), chunked(full.size()), decoded(full.size());
    auto a = model.NewSequence();
    EXPECT_TRUE(a->Prefill(tokens, 0, full.data()).ok());
    EXPECT_EQ(a->length(), n);
    auto b = model.NewSequence();
    EXPECT_TRUE(b->Prefill(tokens, 7, chunked.data()).ok());
    auto c = model.NewSequence();
    EXPECT_TRUE(c->Prefill(absl::MakeConstSpan(tokens).subspan(0, split), 5, decoded.data()).ok());
    for (int64_t t = split; t < n; ++t) {
      EXPECT_TRUE(c->Decode(tokens[static_cast<size_t>(t)], decoded.data() + t * vocab).ok());
    }
    EXPECT_EQ(c->length(), n);
    for (float v : full) EXPECT_TRUE(std::isfinite(v));
    return std::max(RelDiff(full, chunked), RelDiff(full, decoded));
  }

  static testing::ScratchDir* dir_;
};

testing::ScratchDir* ModelTest::dir_ = nullptr;

// 80 tokens: 5x the 16-token window, 5 HCA chunks of 16, 20 CSA entries against top-8.
constexpr int64_t kLen = 80;

TEST_F(ModelTest, PrefillChunkedAndDecodeAgreeWithFp32Kv) {
  auto model = LoadModel("bf16", KvMode::kFp32);
  ASSERT_NE(model, nullptr);
  EXPECT_LT(PathDifference(*model, Tokens(kLen, model->config().vocab_size, 1), 21), 1e-4);
}

TEST_F(ModelTest, PrefillChunkedAndDecodeAgreeWithFp8Kv) {
  auto model = LoadModel("bf16", KvMode::kFp8);
  ASSERT_NE(model, nullptr);
  EXPECT_LT(PathDifference(*model, Tokens(kLen, model->config().vocab_size, 2), 33), 1e-4);
}

TEST_F(ModelTest, QuantisedWeightsCheckpointAgreesAcrossPaths) {
  auto model = LoadModel("fp8", KvMode::kFp8);
  ASSERT_NE(model, nullptr);
  EXPECT_LT(PathDifference(*model, Tokens(kLen, model->config().vocab_size, 3), 40), 1e-4);
}

TEST_F(ModelTest, Fp8KvStaysCloseToFp32Kv) {
  auto m32 = LoadModel("bf16", KvMode::kFp32);
  auto m8 = LoadModel("bf16", KvMode::kFp8);
  ASSERT_NE(m32, nullptr);
  ASSERT_NE(m8, nullptr);
  const auto tokens = Tokens(48, m32->config().vocab_size, 4);
  const int64_t vocab = m32->config().vocab_size;
  std::vector<float> a(tokens.size() * vocab), b(a.size());
  ASSERT_TRUE(m32->NewSequence()->Prefill(tokens, 0, a.data()).ok());
  ASSERT_TRUE(m8->NewSequence()->Prefill(tokens, 0, b.data()).ok());
  // Per position: most rows differ only by FP8 rounding of the cached entries; a few may differ
  // more where the perturbation flips a learned top-k expert choice, so the median is checked.
  std::vector<double> per_row;
  for (size_t t = 0; t < tokens.size(); ++t) {
    std::vector<float> ra(a.begin() + t * vocab, a.begin() + (t + 1) * vocab);
    std::vector<float> rb(b.begin() + t * vocab, b.begin() + (t + 1) * vocab);
    per_row.push_back(RelDiff(ra, rb));
  }
  std::sort(per_row.begin(), per_row.end());
  const double median = per_row[per_row.size() / 2];
  EXPECT_GT(per_row.front(), 0.0);  // the modes really differ, from the first position on
  EXPECT_LT(median, 0.08);
}

TEST_F(ModelTest, LogitsDoNotDependOnThreadCount) {
  auto m1 = LoadModel("bf16", KvMode::kFp32, 1);
  auto m3 = LoadModel("bf16", KvMode::kFp32, 3);
  ASSERT_NE(m1, nullptr);
  ASSERT_NE(m3, nullptr);
  const auto tokens = Tokens(40, m1->config().vocab_size, 5);
  std::vector<float> a(tokens.size() * m1->config().vocab_size), b(a.size());
  ASSERT_TRUE(m1->NewSequence()->Prefill(tokens, 9, a.data()).ok());
  ASSERT_TRUE(m3->NewSequence()->Prefill(tokens, 9, b.data()).ok());
  EXPECT_EQ(a, b);
}

TEST_F(ModelTest, EarlierLogitsIgnoreLaterTokens) {
  auto model = LoadModel("bf16", KvMode::kFp32);
  ASSERT_NE(model, nullptr);
  auto tokens = Tokens(40, model->config().vocab_size, 6);
  const int64_t vocab = model->config().vocab_size;
  std::vector<float> a(tokens.size() * vocab), b(a.size());
  ASSERT_TRUE(model->NewSequence()->Prefill(tokens, 0, a.data()).ok());
  tokens[30] = (tokens[30] + 1) % static_cast<int32_t>(vocab);
  ASSERT_TRUE(model->NewSequence()->Prefill(tokens, 0, b.data()).ok());
  for (int64_t i = 0; i < 30 * vocab; ++i) ASSERT_EQ(a[i], b[i]) << i;
  EXPECT_NE(a[30 * vocab], b[30 * vocab]);
}

TEST_F(ModelTest, MtpDraftIsTheSameWhateverPathBuiltTheSequence) {
  auto model = LoadModel("bf16", KvMode::kFp32);
  ASSERT_NE(model, nullptr);
  const int64_t vocab = model->config().vocab_size;
  const auto tokens = Tokens(50, vocab, 7);
  std::vector<float> want(vocab), got(vocab), junk(vocab);
  auto a = model->NewSequence();
  ASSERT_TRUE(a->Prefill(tokens, 0, nullptr).ok());
  ASSERT_TRUE(a->DraftLogits(17, want.data()).ok());
  // The same draft twice gives the same logits (a draft leaves no trace).
  ASSERT_TRUE(a->DraftLogits(17, got.data()).ok());
  EXPECT_EQ(want, got);
  // Decode with speculative drafts of other tokens in between.
  auto b = model->NewSequence();
  ASSERT_TRUE(b->Prefill(absl::MakeConstSpan(tokens).subspan(0, 20), 6, nullptr).ok());
  for (size_t t = 20; t < tokens.size(); ++t) {
    ASSERT_TRUE(b->DraftLogits(static_cast<int32_t>((t * 31) % vocab), junk.data()).ok());
    ASSERT_TRUE(b->Decode(tokens[t], nullptr).ok());
  }
  ASSERT_TRUE(b->DraftLogits(17, got.data()).ok());
  EXPECT_LT(RelDiff(want, got), 1e-4);
  for (float v : got) EXPECT_TRUE(std::isfinite(v));
  // A different next token changes the draft.
  ASSERT_TRUE(b->DraftLogits(18, junk.data()).ok());
  EXPECT_GT(RelDiff(got, junk), 1e-3);
}

TEST_F(ModelTest, DraftOnEmptySequenceIsFailedPrecondition) {
  auto model = LoadModel("bf16", KvMode::kFp32);
  ASSERT_NE(model, nullptr);
  std::vector<float> logits(model->config().vocab_size);
  auto seq = model->NewSequence();
  EXPECT_EQ(seq->DraftLogits(1, logits.data()).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ModelTest, OutOfRangeTokenIsInvalidArgumentAndChangesNothing) {
  auto model = LoadModel("bf16", KvMode::kFp32);
  ASSERT_NE(model, nullptr);
  auto seq = model->NewSequence();
  const std::vector<int32_t> bad = {1, 2, 512};
  absl::Status s = seq->Prefill(bad, 0, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("512"), std::string::npos) << s;
  EXPECT_NE(s.message().find("vocab_size=512"), std::string::npos) << s;
  EXPECT_EQ(seq->length(), 0);
  EXPECT_EQ(seq->Decode(-1, nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(seq->length(), 0);
}

// A hot pool as LSA's engine lays it out (DESIGN.md §2.1): pages of 4 chunks, one KV block per
// CSA layer per slot (placed after a gap, to prove block offsets are honoured), pages in reverse
// slot order, filled with the sequence's own stored bytes of its first `chunks` entries.
struct TestPool {
  static constexpr int32_t kChunksPerPage = 4;
  std::vector<std::byte> bytes;
  KvPoolView view;

  TestPool(const Sequence& seq, const std::vector<int64_t>& csa_layers, int64_t entry_bytes,
           int64_t chunks, int64_t pages) {
    const int64_t block = kChunksPerPage * entry_bytes, gap = 40;
    view.slot_bytes = gap + static_cast<int64_t>(csa_layers.size()) * block;
    view.entry_bytes = entry_bytes;
    view.chunks_per_page = kChunksPerPage;
    for (size_t l = 0; l < csa_layers.size(); ++l) {
      view.block_offset.push_back(gap + static_cast<int64_t>(l) * block);
    }
    bytes.assign(static_cast<size_t>((pages + 1) * view.slot_bytes), std::byte{0x5a});
    for (int64_t p = 0; p < pages; ++p) {
      view.slot_of_page.push_back(static_cast<int32_t>(pages - p));
    }
    for (int64_t j = 0; j < chunks; ++j) {
      for (size_t l = 0; l < csa_layers.size(); ++l) {
        auto raw = seq.CompressedKvBytes(csa_layers[l], j, 1);
        EXPECT_TRUE(raw.ok()) << raw.status();
        std::memcpy(cell(static_cast<int>(l), j), raw->data(), raw->size());
      }
    }
    view.base = bytes.data();
    view.pool_bytes = static_cast<int64_t>(bytes.size());
  }
  std::byte* cell(int csa, int64_t j) {
    const int64_t slot = view.slot_of_page[static_cast<size_t>(j / kChunksPerPage)];
    return bytes.data() + slot * view.slot_bytes + view.block_offset[static_cast<size_t>(csa)] +
           (j % kChunksPerPage) * view.entry_bytes;
  }
};

// Level 2 reading the CSA entries through a pool view: the exact bytes give bit-identical logits
// to a sequence reading its own store (every page resident, so the same picks); the entry formed
// by the call itself comes from the store; and poisoning the cell of a picked entry changes the
// logits, so the pool really is what attention reads.
TEST_F(ModelTest, PoolViewWithExactBytesMatchesAndPoisonedCellChangesLogits) {
  for (KvMode mode : {KvMode::kFp8, KvMode::kFp32}) {
    SCOPED_TRACE(mode == KvMode::kFp8 ? "fp8" : "fp32");
    auto model = LoadModel("bf16", mode);
    ASSERT_NE(model, nullptr);
    const ModelConfig& c = model->config();
    std::vector<int64_t> csa;
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      if (c.is_csa(l)) csa.push_back(l);
    }
    ASSERT_EQ(csa.size(), 2u);
    // 83 tokens prefilled: 20 stored entries; the decode at position 83 forms entry 20, which the
    // pool cannot hold yet, and Level 2 picks top-8 of 21 candidates.
    const auto tokens = Tokens(84, c.vocab_size, 11);
    const auto head = absl::MakeConstSpan(tokens).first(83);
    const int64_t vocab = c.vocab_size;
    std::vector<float> want(vocab), got(vocab), poisoned(vocab);
    auto full = model->NewSequence();
    ASSERT_TRUE(full->Prefill(head, 0, nullptr).ok());
    ASSERT_TRUE(full->Decode(tokens[83], want.data()).ok());

    auto paged = model->NewSequence();
    ASSERT_TRUE(paged->Prefill(head, 0, nullptr).ok());
    EXPECT_EQ(model->CompressedEntryBytes(), mode == KvMode::kFp8 ? 72 : 4 * c.head_dim);
    TestPool pool(*paged, csa, model->CompressedEntryBytes(), 20, 6);
    paged->SetResidentChunks(ResidentSet{{}, pool.view});
    ASSERT_EQ(paged->resident_chunks()->mask.size(), 24u);  // derived from the table
    paged->SetIndexerTracing(true);
    ASSERT_TRUE(paged->Decode(tokens[83], got.data()).ok());
    EXPECT_EQ(want, got);
    auto trace = paged->LastIndexerTrace(csa[0]);
    ASSERT_TRUE(trace.ok()) << trace.status();
    ASSERT_EQ((*trace)->selected.size(), 8u);
    const int64_t victim = (*trace)->selected.front();
    ASSERT_LT(victim, 20);

    auto poison = model->NewSequence();
    ASSERT_TRUE(poison->Prefill(head, 0, nullptr).ok());
    TestPool bad(*poison, csa, model->CompressedEntryBytes(), 20, 6);
    // Another (valid) entry's bytes in the picked entry's cell: no NaN, just the wrong key/value.
    const int64_t other = victim == 19 ? 18 : 19;
    std::memcpy(bad.cell(0, victim), bad.cell(0, other), static_cast<size_t>(bad.view.entry_bytes));
    poison->SetResidentChunks(ResidentSet{{}, bad.view});
    ASSERT_TRUE(poison->Decode(tokens[83], poisoned.data()).ok());
    EXPECT_NE(want, poisoned);
    EXPECT_GT(RelDiff(want, poisoned), 1e-6);
  }
}

TEST_F(ModelTest, MalformedPoolViewFailsTheNextCallNamingTheField) {
  auto model = LoadModel("bf16", KvMode::kFp8);
  ASSERT_NE(model, nullptr);
  auto seq = model->NewSequence();
  ASSERT_TRUE(seq->Prefill(Tokens(20, model->config().vocab_size, 12), 0, nullptr).ok());
  std::vector<std::byte> bytes(4096);
  KvPoolView view;
  view.base = bytes.data();
  view.pool_bytes = 4096;
  view.slot_bytes = 1024;
  view.entry_bytes = model->CompressedEntryBytes() + 1;
  view.chunks_per_page = 4;
  view.block_offset = {0, 512};
  view.slot_of_page = {0};
  seq->SetResidentChunks(ResidentSet{{}, view});
  absl::Status s = seq->Decode(1, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("entry_bytes"), std::string::npos) << s;
  view.entry_bytes = model->CompressedEntryBytes();
  view.slot_of_page = {4};  // past the pool's 4 slots
  seq->SetResidentChunks(ResidentSet{{}, view});
  s = seq->Decode(1, nullptr);
  EXPECT_NE(s.message().find("slot_of_page[0]"), std::string::npos) << s;
  seq->ClearResidentChunks();
  EXPECT_TRUE(seq->Decode(1, nullptr).ok());
  EXPECT_FALSE(seq->CompressedKvBytes(0, 0, 1).ok());  // layer 0 is SWA-only
  EXPECT_FALSE(seq->CompressedKvBytes(1, 4, 2).ok());  // 5 entries stored
  EXPECT_TRUE(seq->CompressedKvBytes(1, 3, 2).ok());
}

TEST_F(ModelTest, MissingTensorIsAnErrorNamingIt) {
  // Copy the tiny checkpoint without one indexer tensor of layer 1.
  const std::string victim = "layers.1.attn.indexer.compressor.ape";
  auto ck = Checkpoint::Open(dir_->path() / "bf16");
  ASSERT_TRUE(ck.ok()) << ck.status();
  SafetensorsWriter writer;
  for (const std::string& name : (*ck)->TensorNames()) {
    if (name == victim) continue;
    auto t = (*ck)->Get(name);
    ASSERT_TRUE(t.ok());
    writer.Add(name, t->dtype, t->shape, std::vector<uint8_t>(t->data, t->data + t->nbytes));
  }
  testing::ScratchDir out("model_test_missing");
  std::filesystem::copy_file(dir_->path() / "bf16" / "config.json", out.path() / "config.json");
  ASSERT_TRUE(writer.WriteCheckpoint(out.path(), 1).ok());
  ModelOptions options;
  auto model = Model::Load(out.path(), options);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find(victim), std::string::npos) << model.status();
}

}  // namespace
}  // namespace fm::rt
