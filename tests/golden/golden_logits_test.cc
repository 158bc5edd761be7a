// Golden logits: flashmem's CPU forward pass (KvMode::kFp32) against logits computed by an
// independent float64 numpy implementation of DeepSeek's inference/model.py (tools/golden/), on
// two tiny release-format checkpoints (BF16, and FP8 + MXFP4). Contract: tests/golden/README.md.

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/model/model.h"
#include "tests/golden/npy.h"

namespace fm::rt {
namespace {

constexpr double kTolerance = 1e-3;  // max |got - golden| / max |golden| (README: why 1e-3)

std::string CaseDir(const std::string& name) {
  const char* src = std::getenv("FM_SOURCE_DIR");
  return std::string(src ? src : ".") + "/tests/golden/data/" + name;
}

std::vector<int32_t> ReadTokens(const std::string& dir) {
  std::ifstream f(dir + "/tokens.json");
  nlohmann::json j = nlohmann::json::parse(f);
  return j.get<std::vector<int32_t>>();
}

// Compares row `row` of `got` [vocab] against golden[row]; returns the relative error.
double RowError(const std::vector<float>& golden, int64_t vocab, int64_t row, const float* got,
                double scale) {
  double err = 0;
  for (int64_t v = 0; v < vocab; ++v) {
    err = std::max(err, std::fabs(double(got[v]) - double(golden[row * vocab + v])) / scale);
  }
  return err;
}

double MaxAbs(const std::vector<float>& a) {
  double m = 0;
  for (float v : a) m = std::max(m, double(std::fabs(v)));
  return m;
}

class GoldenLogits : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = CaseDir(GetParam());
    ModelOptions options;
    options.kv_mode = KvMode::kFp32;
    options.n_threads = 2;
    auto model = Model::Load(dir_, options);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::move(model).value();
    tokens_ = ReadTokens(dir_);
    auto golden = test::ReadNpyFloat32(dir_ + "/logits.npy");
    ASSERT_TRUE(golden.ok()) << golden.status();
    golden_ = std::move(golden).value();
    vocab_ = model_->config().vocab_size;
    ASSERT_EQ(golden_.shape, (std::vector<int64_t>{int64_t(tokens_.size()), vocab_}));
    scale_ = MaxAbs(golden_.data);
  }

  std::string dir_;
  std::unique_ptr<Model> model_;
  std::vector<int32_t> tokens_;
  test::NpyArray golden_;
  int64_t vocab_ = 0;
  double scale_ = 1;
};

TEST_P(GoldenLogits, PrefillMatchesIndependentReference) {
  for (int64_t chunk : {int64_t{0}, int64_t{7}}) {
    auto seq = model_->NewSequence();
    std::vector<float> logits(tokens_.size() * size_t(vocab_));
    ASSERT_TRUE(seq->Prefill(tokens_, chunk, logits.data()).ok());
    double worst = 0;
    int64_t worst_row = 0;
    for (int64_t t = 0; t < int64_t(tokens_.size()); ++t) {
      double e = RowError(golden_.data, vocab_, t, logits.data() + t * vocab_, scale_);
      if (e > worst) worst = e, worst_row = t;
    }
    EXPECT_LE(worst, kTolerance) << "chunk " << chunk << ": worst row " << worst_row;
  }
}

TEST_P(GoldenLogits, DecodeAfterPrefillMatchesIndependentReference) {
  const int64_t prefix = 21;  // past the window (16) and one HCA chunk (16)
  auto seq = model_->NewSequence();
  std::vector<float> logits(prefix * size_t(vocab_));
  ASSERT_TRUE(seq->Prefill(absl::MakeConstSpan(tokens_).subspan(0, prefix), 5, logits.data()).ok());
  std::vector<float> row(static_cast<size_t>(vocab_));
  double worst = 0;
  for (size_t t = prefix; t < tokens_.size(); ++t) {
    ASSERT_TRUE(seq->Decode(tokens_[t], row.data()).ok());
    worst = std::max(worst, RowError(golden_.data, vocab_, int64_t(t), row.data(), scale_));
  }
  EXPECT_LE(worst, kTolerance);
}

TEST_P(GoldenLogits, MtpDraftMatchesIndependentReference) {
  auto mtp = test::ReadNpyFloat32(dir_ + "/mtp_logits.npy");
  ASSERT_TRUE(mtp.ok()) << mtp.status();
  const double scale = MaxAbs(mtp->data);
  std::vector<float> row(static_cast<size_t>(vocab_));
  double worst = 0;
  // Every position, one token at a time: the MTP block's own window sees all earlier positions.
  auto seq = model_->NewSequence();
  for (size_t t = 0; t + 1 < tokens_.size(); ++t) {
    ASSERT_TRUE(seq->Decode(tokens_[t], row.data()).ok());
    ASSERT_TRUE(seq->DraftLogits(tokens_[t + 1], row.data()).ok());
    worst = std::max(worst, RowError(mtp->data, vocab_, int64_t(t), row.data(), scale));
  }
  EXPECT_LE(worst, kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenLogits, ::testing::Values("tiny_bf16", "tiny_fp8"));

}  // namespace
}  // namespace fm::rt
