// Gradient checks of the memory indexer's hand-written backward (indexer_backward.h) and of the
// training loss (trainer.h): the analytic gradients (fp32, through the runtime's own forward) are
// compared with central differences of an independent double-precision forward written out here
// from the spec's formula (V4_FLASH_LSA.md §5.1). The double forward is first checked against the
// runtime forward, so the differences check the gradient of the function the runtime computes.
// Tolerances: the double differences have truncation error ~eps^2 ~1e-10, so the only error left
// is the fp32 rounding of the analytic gradient (~1e-6 relative); 1e-3 fails on any wrong term.

#include "runtime/lsa/train/indexer_backward.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu/ops_norm.h"
#include "runtime/lsa/train/focal_loss.h"
#include "runtime/lsa/train/trainer.h"
#include "runtime/lsa/train/train_test_util.h"

namespace fm::rt::train {
namespace {

using DVec = std::vector<double>;
using testing::RandomCorpus;
using testing::RandomTwoTargetIndexer;
using testing::RandomVec;
using testing::TinyModelConfig;

// ---- The double-precision reference forward (spec §5.1), written independently. ----
struct DoubleWeights {
  DVec wq_a, q_norm, wq_b, weights_proj;
};
DoubleWeights ToDouble(const RetrieverWeights& w) {
  auto cvt = [](const std::vector<float>& v) { return DVec(v.begin(), v.end()); };
  return {cvt(w.wq_a), cvt(w.q_norm), cvt(w.wq_b), cvt(w.weights_proj)};
}

// q [H][DI] and w [H] of one token.
void RefQuery(const ModelConfig& c, const DoubleWeights& W, int64_t R, int64_t H,
              const std::vector<float>& inv_freq, const float* h, int64_t pos, DVec* q, DVec* w) {
  const int64_t d = c.hidden_size, DI = c.index_head_dim, r = c.qk_rope_head_dim;
  DVec a(static_cast<size_t>(R), 0.0);
  for (int64_t i = 0; i < R; ++i)
    for (int64_t k = 0; k < d; ++k) a[static_cast<size_t>(i)] += W.wq_a[static_cast<size_t>(i * d + k)] * h[k];
  double ss = 0;
  for (double v : a) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(R) + c.rms_norm_eps);
  for (int64_t i = 0; i < R; ++i) a[static_cast<size_t>(i)] *= inv * W.q_norm[static_cast<size_t>(i)];
  q->assign(static_cast<size_t>(H * DI), 0.0);
  for (int64_t o = 0; o < H * DI; ++o)
    for (int64_t i = 0; i < R; ++i) (*q)[static_cast<size_t>(o)] += W.wq_b[static_cast<size_t>(o * R + i)] * a[static_cast<size_t>(i)];
  for (int64_t hh = 0; hh < H; ++hh) {
    double* v = q->data() + hh * DI;
    for (int64_t i = 0; i < r / 2; ++i) {
      const double ang = static_cast<double>(static_cast<float>(pos) * inv_freq[static_cast<size_t>(i)]);
      const double cs = static_cast<float>(std::cos(ang)), sn = static_cast<float>(std::sin(ang));
      double* p = v + (DI - r) + 2 * i;
      const double x0 = p[0], x1 = p[1];
      p[0] = x0 * cs - x1 * sn;
      p[1] = x0 * sn + x1 * cs;
    }
    // Walsh-Hadamard in Sylvester order, scaled by DI^-1/2.
    for (int64_t span = 1; span < DI; span *= 2)
      for (int64_t i = 0; i < DI; i += 2 * span)
        for (int64_t j = i; j < i + span; ++j) {
          const double x0 = v[j], x1 = v[j + span];
          v[j] = x0 + x1;
          v[j + span] = x0 - x1;
        }
    for (int64_t i = 0; i < DI; ++i) v[i] /= std::sqrt(static_cast<double>(DI));
  }
  w->assign(static_cast<size_t>(H), 0.0);
  for (int64_t hh = 0; hh < H; ++hh) {
    for (int64_t k = 0; k < d; ++k) (*w)[static_cast<size_t>(hh)] += W.weights_proj[static_cast<size_t>(hh * d + k)] * h[k];
    (*w)[static_cast<size_t>(hh)] /= std::sqrt(static_cast<double>(H * DI));
  }
}

double RefLogit(const DVec& q, const DVec& w, int64_t H, int64_t DI, const float* key) {
  double out = 0;
  for (int64_t hh = 0; hh < H; ++hh) {
    double s = 0;
    for (int64_t i = 0; i < DI; ++i) s += q[static_cast<size_t>(hh * DI + i)] * key[i];
    out += w[static_cast<size_t>(hh)] * std::max(s, 0.0);
  }
  return out;
}

double RefFocal(double z, double y, double wt, double gamma) {
  const double p = 1.0 / (1.0 + std::exp(-z));
  const double pt = y > 0.5 ? p : 1.0 - p;
  return wt * std::pow(1.0 - pt, gamma) * -std::log(pt);
}

// max |a - b| / max |b| over the checked coordinates.
struct ErrorTracker {
  double max_err = 0, max_ref = 0;
  void Add(double analytic, double reference) {
    max_err = std::max(max_err, std::abs(analytic - reference));
    max_ref = std::max(max_ref, std::abs(reference));
  }
  double Relative() const { return max_ref > 0 ? max_err / max_ref : max_err; }
};

// Compares `analytic` (d loss / d vars) with central differences of `loss()` at every `stride`-th
// entry of `vars`: each is moved by +-eps and restored. `loss` reads `vars` by reference.
template <typename Loss>
ErrorTracker CentralDifferences(DVec& vars, const std::vector<float>& analytic, double eps,
                                const Loss& loss, size_t stride = 1) {
  ErrorTracker e;
  for (size_t i = 0; i < vars.size(); i += stride) {
    const double keep = vars[i];
    vars[i] = keep + eps;
    const double lp = loss();
    vars[i] = keep - eps;
    const double lm = loss();
    vars[i] = keep;
    e.Add(analytic[i], (lp - lm) / (2 * eps));
  }
  return e;
}

// The gradients (da, db) of a loss of two tensors against central differences in double: prints
// both relative errors under `what` and expects each below `tolerance`.
template <typename Loss>
void ExpectGradientsOfTwo(const char* what, const std::vector<float>& a,
                          const std::vector<float>& da, const std::vector<float>& b,
                          const std::vector<float>& db, double eps, double tolerance,
                          const Loss& loss) {
  DVec ad(a.begin(), a.end()), bd(b.begin(), b.end());
  const ErrorTracker ea = CentralDifferences(ad, da, eps, [&] { return loss(ad, bd); });
  const ErrorTracker eb = CentralDifferences(bd, db, eps, [&] { return loss(ad, bd); });
  std::printf("gradcheck %s: rel err %.3g and %.3g\n", what, ea.Relative(), eb.Relative());
  EXPECT_LT(ea.Relative(), tolerance) << what << ": first tensor";
  EXPECT_LT(eb.Relative(), tolerance) << what << ": second tensor";
}

class BackwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = TinyModelConfig();
    indexer_ = RandomTwoTargetIndexer(config_, 24, 3, 5);
    ASSERT_TRUE(indexer_);
  }
  ModelConfig config_;
  std::unique_ptr<MemoryIndexer> indexer_;
};

TEST_F(BackwardTest, DoubleReferenceMatchesTheRuntimeForward) {
  std::mt19937_64 rng(1);
  const int64_t d = config_.hidden_size, DI = config_.index_head_dim, H = 3;
  const std::vector<float> h = RandomVec(static_cast<size_t>(d), rng, 1.0f);
  const std::vector<float> keys = RandomVec(static_cast<size_t>(40 * DI), rng, 0.6f);
  std::vector<float> out(40);
  ASSERT_TRUE(indexer_->Logits(1, h, 333, keys.data(), 40, out.data()).ok());
  DVec q, w;
  RefQuery(config_, ToDouble(indexer_->target(1)), 24, H, indexer_->rope_inv_freq(), h.data(),
           333, &q, &w);
  double max_ref = 0, max_err = 0;
  for (int64_t j = 0; j < 40; ++j) {
    const double ref = RefLogit(q, w, H, DI, keys.data() + j * DI);
    max_ref = std::max(max_ref, std::abs(ref));
    max_err = std::max(max_err, std::abs(ref - out[static_cast<size_t>(j)]));
  }
  EXPECT_GT(max_ref, 1e-2);
  EXPECT_LT(max_err / max_ref, 1e-5) << "runtime forward vs the double reference";
}

TEST_F(BackwardTest, LinearGradientsMatchCentralDifferences) {
  std::mt19937_64 rng(2);
  const int64_t n = 3, out = 7, in = 11;
  const std::vector<float> W = RandomVec(out * in, rng, 1), x = RandomVec(n * in, rng, 1),
                           dy = RandomVec(n * out, rng, 1);
  std::vector<float> dW(out * in, 0.0f), dx(n * in);
  kernels::cpu::ThreadPool pool(2);
  LinearWeightGrad(dy.data(), x.data(), n, out, in, dW.data(), &pool);
  LinearInputGrad(W.data(), dy.data(), n, out, in, dx.data(), &pool);
  // L = sum dy . (W x), in double.
  auto loss = [&](const DVec& Wd, const DVec& xd) {
    double s = 0;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t o = 0; o < out; ++o) {
        double y = 0;
        for (int64_t i = 0; i < in; ++i) y += Wd[static_cast<size_t>(o * in + i)] * xd[static_cast<size_t>(r * in + i)];
        s += dy[static_cast<size_t>(r * out + o)] * y;
      }
    return s;
  };
  ExpectGradientsOfTwo("linear dW, dx", W, dW, x, dx, 1e-5, 1e-5, loss);
}

TEST_F(BackwardTest, RmsNormGradientsMatchCentralDifferences) {
  std::mt19937_64 rng(3);
  const int64_t n = 2, dim = 24;
  const float eps_norm = 1e-6f;
  const std::vector<float> a = RandomVec(n * dim, rng, 1), g = RandomVec(dim, rng, 1),
                           dc = RandomVec(n * dim, rng, 1);
  std::vector<float> da(n * dim), dg(dim, 0.0f);
  RmsNormBackward(a.data(), g.data(), dc.data(), n, dim, eps_norm, da.data(), dg.data());
  auto loss = [&](const DVec& ad, const DVec& gd) {
    double s = 0;
    for (int64_t r = 0; r < n; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += ad[static_cast<size_t>(r * dim + i)] * ad[static_cast<size_t>(r * dim + i)];
      const double inv = 1.0 / std::sqrt(ss / dim + eps_norm);
      for (int64_t i = 0; i < dim; ++i)
        s += dc[static_cast<size_t>(r * dim + i)] * gd[static_cast<size_t>(i)] * ad[static_cast<size_t>(r * dim + i)] * inv;
    }
    return s;
  };
  ExpectGradientsOfTwo("rmsnorm da, dg", a, da, g, dg, 1e-6, 1e-4, loss);
}

// RoPE and Hadamard are linear: their backward must be the exact adjoint, <f(x), y> = <x, f*(y)>,
// and the Jacobian of the forward (central differences) must equal the backward's matrix.
TEST_F(BackwardTest, RopeAndHadamardBackwardAreTheAdjoints) {
  std::mt19937_64 rng(4);
  const int64_t n = 2, H = 3, DI = config_.index_head_dim, r = config_.qk_rope_head_dim;
  const std::vector<int64_t> pos = {7, 1000};
  const std::vector<float> x = RandomVec(n * H * DI, rng, 1), y = RandomVec(n * H * DI, rng, 1);
  kernels::cpu::ThreadPool pool(2);
  auto dot = [](const std::vector<float>& a, const std::vector<float>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
    return s;
  };
  // RoPE.
  std::vector<float> fx = x, by = y;
  kernels::RopeParams rp;
  rp.x = fx.data();
  rp.n_rows = n;
  rp.n_heads = H;
  rp.head_stride = DI;
  rp.rope_offset = DI - r;
  rp.n_pairs = r / 2;
  rp.positions = pos.data();
  rp.inv_freq = indexer_->rope_inv_freq().data();
  ASSERT_EQ(kernels::cpu::Rope(rp, &pool), kernels::OpStatus::kOk);
  ASSERT_TRUE(RopeBackward(by.data(), n, H, DI, DI - r, r / 2, pos.data(),
                           indexer_->rope_inv_freq().data(), &pool).ok());
  const double rope_err = std::abs(dot(fx, y) - dot(x, by)) / std::abs(dot(fx, y));
  // Hadamard.
  std::vector<float> hx = x, hy = y;
  ASSERT_EQ(kernels::cpu::Hadamard({hx.data(), n * H, DI}, &pool), kernels::OpStatus::kOk);
  ASSERT_TRUE(HadamardBackward(hy.data(), n * H, DI, &pool).ok());
  const double had_err = std::abs(dot(hx, y) - dot(x, hy)) / std::abs(dot(hx, y));
  std::printf("gradcheck rope adjoint rel err %.3g, hadamard adjoint rel err %.3g\n", rope_err, had_err);
  EXPECT_LT(rope_err, 1e-5);
  EXPECT_LT(had_err, 1e-5);
  // The rope dims really rotate (a no-op backward would pass the adjoint test only if the forward
  // were a no-op too).
  double moved = 0;
  for (size_t i = 0; i < x.size(); ++i) moved = std::max(moved, static_cast<double>(std::abs(fx[i] - x[i])));
  EXPECT_GT(moved, 1e-2);
}

TEST_F(BackwardTest, ScoreKeysGradientsMatchCentralDifferences) {
  std::mt19937_64 rng(6);
  const int64_t H = 3, DI = config_.index_head_dim, n = 17;
  const std::vector<float> q = RandomVec(H * DI, rng, 1), w = RandomVec(H, rng, 1),
                           keys = RandomVec(n * DI, rng, 1), dl = RandomVec(n, rng, 1);
  std::vector<float> dq(H * DI, 0.0f), dw(H, 0.0f);
  ScoreKeysBackward(q.data(), w.data(), H, DI, keys.data(), n, dl.data(), dq.data(), dw.data());
  auto loss = [&](const DVec& qd, const DVec& wd) {
    double s = 0;
    for (int64_t j = 0; j < n; ++j) s += dl[static_cast<size_t>(j)] * RefLogit(qd, wd, H, DI, keys.data() + j * DI);
    return s;
  };
  ExpectGradientsOfTwo("relu-dot logits dq, dw", q, dq, w, dw, 1e-6, 1e-4, loss);
}

TEST_F(BackwardTest, FocalLossGradientMatchesCentralDifferences) {
  const std::vector<float> z = {-6.0f, -1.5f, -0.2f, 0.0f, 0.3f, 2.0f, 7.5f, -3.0f};
  const std::vector<float> y = {1, 0, 1, 0, 1, 0, 1, 0};
  const std::vector<float> wt = {1, 1, 0.5f, 1, 1, 1, 0.5f, 1};
  for (double gamma : {0.0, 2.0}) {
    std::vector<float> dz(z.size());
    const double sum = FocalBceSum(z.data(), y.data(), wt.data(), static_cast<int64_t>(z.size()),
                                   gamma, 1.0, dz.data());
    double ref_sum = 0;
    ErrorTracker e;
    for (size_t j = 0; j < z.size(); ++j) {
      ref_sum += RefFocal(z[j], y[j], wt[j], gamma);
      const double eps = 1e-6;
      e.Add(dz[j], (RefFocal(z[j] + eps, y[j], wt[j], gamma) - RefFocal(z[j] - eps, y[j], wt[j], gamma)) / (2 * eps));
    }
    std::printf("gradcheck focal loss (gamma %g): rel err %.3g\n", gamma, e.Relative());
    EXPECT_NEAR(sum, ref_sum, 1e-9 * std::abs(ref_sum));
    EXPECT_LT(e.Relative(), 1e-6);
  }
}

// The whole network and the loss: IndexerTrainer::LossAndGrads (runtime forward + backward)
// against central differences of the double reference over every parameter of both targets.
TEST_F(BackwardTest, WholeNetworkLossGradientMatchesCentralDifferences) {
  std::mt19937_64 rng(7);
  TrainCorpus corpus = RandomCorpus(config_, {0, 1}, 40, 60, rng);
  TrainOptions options;
  options.sampling.tau = 8;
  options.batch = 3;
  options.val_fraction = 0;
  auto tr = IndexerTrainer::Create(std::move(indexer_), &corpus, options, "/nonexistent");
  ASSERT_TRUE(tr.ok()) << tr.status();
  std::vector<TrainSample> batch = (*tr)->BatchSamples(0, 0);
  ASSERT_EQ(batch.size(), 3u);
  std::vector<RetrieverGrads> grads;
  auto loss = (*tr)->LossAndGrads(batch, &grads);
  ASSERT_TRUE(loss.ok()) << loss.status();
  MemoryIndexer& mi = (*tr)->indexer();
  const int64_t nt = 2, d = config_.hidden_size, DI = config_.index_head_dim;
  const TrainDocument& doc = corpus.documents[0];
  int64_t n_entries = 0;
  for (const TrainSample& s : batch) n_entries += static_cast<int64_t>(s.entries.chunks.size());
  auto ref_layer_loss = [&](int64_t t, const DoubleWeights& W) {
    const RetrieverWeights& rw = mi.target(t);
    double s = 0;
    for (const TrainSample& smp : batch) {
      DVec q, w;
      RefQuery(config_, W, rw.rank, rw.n_heads, mi.rope_inv_freq(),
               doc.token_hidden(smp.token.token, t, nt, d),
               doc.labels.positions[static_cast<size_t>(smp.token.token)], &q, &w);
      for (size_t j = 0; j < smp.entries.chunks.size(); ++j) {
        const double z = RefLogit(q, w, rw.n_heads, DI,
                                  doc.keys[static_cast<size_t>(t)].data() + smp.entries.chunks[j] * DI);
        s += RefFocal(z, smp.entries.labels[j], smp.entries.weights[j], options.gamma);
      }
    }
    return s / static_cast<double>(n_entries);
  };
  double ref_total = 0;
  for (int64_t t = 0; t < nt; ++t) ref_total += ref_layer_loss(t, ToDouble(mi.target(t))) / nt;
  EXPECT_NEAR(*loss, ref_total, 1e-5 * std::abs(ref_total));
  const double eps = 1e-6;
  for (int64_t t = 0; t < nt; ++t) {
    DoubleWeights W = ToDouble(mi.target(t));
    const RetrieverGrads& g = grads[static_cast<size_t>(t)];
    const std::pair<DVec*, const std::vector<float>*> tensors[] = {
        {&W.wq_a, &g.wq_a}, {&W.q_norm, &g.q_norm}, {&W.wq_b, &g.wq_b},
        {&W.weights_proj, &g.weights_proj}};
    const char* names[] = {"wq_a", "q_norm", "wq_b", "weights_proj"};
    for (int k = 0; k < 4; ++k) {
      // Every 3rd coordinate keeps the test fast; each tensor still has > 20 checked entries.
      const ErrorTracker e = CentralDifferences(
          *tensors[k].first, *tensors[k].second, eps, [&] { return ref_layer_loss(t, W) / nt; }, 3);
      std::printf("gradcheck network target %lld %s: rel err %.3g (max |g| %.3g)\n",
                  static_cast<long long>(t), names[k], e.Relative(), e.max_ref);
      EXPECT_GT(e.max_ref, 1e-7) << names[k];
      EXPECT_LT(e.Relative(), 1e-3) << "target " << t << " " << names[k];
    }
  }
}

}  // namespace
}  // namespace fm::rt::train
