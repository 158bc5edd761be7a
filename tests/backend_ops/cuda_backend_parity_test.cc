// CudaBackend against the CPU reference backend on fresh random inputs (kernels/backend.h ops).
// Tolerances, by what each op does:
//   bit-exact: Hadamard, HcPost, the KV and index-key codecs (same operations in the same order;
//     codecs run device_codecs.h, also checked on the CPU), TopK and Route expert choice (same
//     keys and tie-break), Route weights (sums in the CPU's order);
//   <= 4 ulp-ish (|d| <= 2e-6 |ref| + 1e-30): RmsNorm, Swiglu, SoftmaxPool, HcPre (double
//     accumulation or exp in double rounded once, vs glibc's float exp);
//   ||d|| / ||ref|| <= 1e-5: Rope (cos/sin from CUDA's double libm), Linear, IndexerScore,
//     SinkAttention (fp32 dot products summed in another order than the CPU's AVX2 code).
// Outputs are poisoned (NaN bytes) before each run, so an unwritten element fails. Skips, printing
// FM_GPU_SKIPPED for ctest, when no CUDA device is present.

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/ops_norm.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/numeric_formats.h"
#include "tests/backend_ops/device_buffer_test_util.h"

namespace fm::kernels {
namespace {

using test_util::DeviceArray;

std::vector<float> Randn(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

void ExpectBitExact(const std::vector<float>& got, const std::vector<float>& want,
                    const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(FloatToBits(got[i]), FloatToBits(want[i]))
        << what << "[" << i << "]: " << got[i] << " vs " << want[i];
  }
}

void ExpectUlpClose(const std::vector<float>& got, const std::vector<float>& want,
                    const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_FALSE(std::isnan(got[i])) << what << "[" << i << "] not written";
    ASSERT_LE(std::fabs(got[i] - want[i]), 2e-6f * std::fabs(want[i]) + 1e-30f)
        << what << "[" << i << "]: " << got[i] << " vs " << want[i];
  }
}

void ExpectNormClose(const std::vector<float>& got, const std::vector<float>& want,
                     const char* what, double tol = 1e-5) {
  ASSERT_EQ(got.size(), want.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_FALSE(std::isnan(got[i])) << what << "[" << i << "] not written";
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  EXPECT_LE(std::sqrt(num / std::max(den, 1e-300)), tol) << what;
}

class CudaParity : public test_util::CudaDeviceTest<> {
 protected:
  cpu::CpuBackend cpu_{nullptr};
  cuda::CudaBackend gpu_{nullptr};
  std::mt19937 rng_{std::random_device{}()};  // fresh inputs every run (METHOD.md)
};

TEST_F(CudaParity, RmsNorm) {
  for (bool weighted : {true, false}) {
    const int64_t rows = 37, dim = 4096;
    auto x = Randn(static_cast<size_t>(rows * dim), rng_, 3.0f);
    auto w = Randn(static_cast<size_t>(dim), rng_);
    std::vector<float> want(x.size());
    ASSERT_EQ(
        cpu_.RmsNorm({x.data(), weighted ? w.data() : nullptr, want.data(), rows, dim, 1e-6f}),
        OpStatus::kOk);
    DeviceArray<float> dx(x), dw(w), dy(x.size());
    ASSERT_EQ(gpu_.RmsNorm({dx.get(), weighted ? dw.get() : nullptr, dy.get(), rows, dim, 1e-6f}),
              OpStatus::kOk);
    ExpectUlpClose(dy.Read(), want, "rmsnorm");
  }
}

TEST_F(CudaParity, RopeAndItsInverse) {
  const int64_t rows = 9, heads = 16, stride = 192, offset = 128, pairs = 32;
  auto x = Randn(static_cast<size_t>(rows * heads * stride), rng_);
  std::vector<int64_t> pos(static_cast<size_t>(rows));
  for (auto& p : pos) p = static_cast<int64_t>(rng_() % 1'000'000);
  std::vector<float> inv_freq(static_cast<size_t>(pairs));
  cpu::ComputeRopeInvFreq(2 * pairs, 10000.0, 65536, 16.0, 32.0, 1.0, inv_freq.data());
  DeviceArray<float> dx(x), df(inv_freq);
  DeviceArray<int64_t> dp(pos);
  for (bool inverse : {false, true}) {
    std::vector<float> want = x;
    RopeParams p{want.data(), rows,       heads,           stride, offset,
                 pairs,       pos.data(), inv_freq.data(), inverse};
    ASSERT_EQ(cpu_.Rope(p), OpStatus::kOk);
    DeviceArray<float> dy(x);
    p.x = dy.get();
    p.positions = dp.get();
    p.inv_freq = df.get();
    ASSERT_EQ(gpu_.Rope(p), OpStatus::kOk);
    ExpectNormClose(dy.Read(), want, inverse ? "rope inverse" : "rope", 1e-6);
  }
}

TEST_F(CudaParity, HadamardIsBitExact) {
  for (int64_t dim : {128, 512, 8192}) {
    const int64_t n = 13;
    auto x = Randn(static_cast<size_t>(n * dim), rng_);
    std::vector<float> want = x;
    ASSERT_EQ(cpu_.Hadamard({want.data(), n, dim}), OpStatus::kOk);
    DeviceArray<float> dx(x);
    ASSERT_EQ(gpu_.Hadamard({dx.get(), n, dim}), OpStatus::kOk);
    ExpectBitExact(dx.Read(), want, "hadamard");
  }
}

TEST_F(CudaParity, HcPreAndHcPost) {
  const int64_t rows = 5, n_hc = 4, dim = 1024, n_mix = (2 + n_hc) * n_hc;
  auto x = Randn(static_cast<size_t>(rows * n_hc * dim), rng_);
  auto mixes = Randn(static_cast<size_t>(rows * n_mix), rng_, 4.0f);
  auto scale = Randn(3, rng_);
  auto base = Randn(static_cast<size_t>(n_mix), rng_);
  std::vector<float> y(static_cast<size_t>(rows * dim)), post(static_cast<size_t>(rows * n_hc)),
      comb(static_cast<size_t>(rows * n_hc * n_hc));
  HcPreParams p{x.data(), mixes.data(), scale.data(), base.data(), rows,       n_hc, dim, n_mix, 20,
                1e-6f,    1e-6f,        y.data(),     post.data(), comb.data()};
  ASSERT_EQ(cpu_.HcPre(p), OpStatus::kOk);
  DeviceArray<float> dx(x), dm(mixes), ds(scale), db(base), dy(y.size()), dpost(post.size()),
      dcomb(comb.size());
  HcPreParams g = p;
  g.x = dx.get(), g.mixes_raw = dm.get(), g.scale = ds.get(), g.base = db.get();
  g.y = dy.get(), g.post = dpost.get(), g.comb = dcomb.get();
  ASSERT_EQ(gpu_.HcPre(g), OpStatus::kOk);
  ExpectUlpClose(dy.Read(), y, "hc_pre y");
  ExpectUlpClose(dpost.Read(), post, "hc_pre post");
  ExpectNormClose(dcomb.Read(), comb, "hc_pre comb", 1e-6);

  auto residual = Randn(static_cast<size_t>(rows * n_hc * dim), rng_);
  std::vector<float> out(residual.size());
  ASSERT_EQ(cpu_.HcPost(
                {y.data(), residual.data(), post.data(), comb.data(), rows, n_hc, dim, out.data()}),
            OpStatus::kOk);
  DeviceArray<float> dy2(y), dres(residual), dpost2(post), dcomb2(comb), dout(out.size());
  ASSERT_EQ(
      gpu_.HcPost({dy2.get(), dres.get(), dpost2.get(), dcomb2.get(), rows, n_hc, dim, dout.get()}),
      OpStatus::kOk);
  ExpectBitExact(dout.Read(), out, "hc_post");
}

TEST_F(CudaParity, SoftmaxPoolWithMaskedSlots) {
  const int64_t slots = 8, dim = 512;
  auto values = Randn(static_cast<size_t>(slots * dim), rng_);
  auto scores = Randn(static_cast<size_t>(slots * dim), rng_, 3.0f);
  for (int64_t d = 0; d < dim; d += 3)
    scores[static_cast<size_t>((d % slots) * dim + d)] = -INFINITY;
  std::vector<float> want(static_cast<size_t>(dim));
  ASSERT_EQ(cpu_.SoftmaxPool({values.data(), scores.data(), slots, dim, want.data()}),
            OpStatus::kOk);
  DeviceArray<float> dv(values), dsc(scores), dout(want.size());
  ASSERT_EQ(gpu_.SoftmaxPool({dv.get(), dsc.get(), slots, dim, dout.get()}), OpStatus::kOk);
  ExpectUlpClose(dout.Read(), want, "softmax_pool");
}

TEST_F(CudaParity, SinkAttention) {
  const int64_t heads = 64, head_dim = 512, n_kv = 640;  // window 128 + top-512 (Flash)
  auto q = Randn(static_cast<size_t>(heads * head_dim), rng_, 0.05f);
  auto kv = Randn(static_cast<size_t>(n_kv * head_dim), rng_);
  auto sink = Randn(static_cast<size_t>(heads), rng_);
  std::vector<float> want(q.size()), scratch(static_cast<size_t>(n_kv));
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  ASSERT_EQ(cpu_.SinkAttention({q.data(), kv.data(), sink.data(), n_kv, heads, head_dim, 0, heads,
                                scale, want.data(), scratch.data()}),
            OpStatus::kOk);
  DeviceArray<float> dq(q), dkv(kv), dsink(sink), dout(want.size());
  ASSERT_EQ(gpu_.SinkAttention({dq.get(), dkv.get(), dsink.get(), n_kv, heads, head_dim, 0, heads,
                                scale, dout.get(), nullptr}),
            OpStatus::kOk);
  ExpectNormClose(dout.Read(), want, "sink_attention");
}

TEST_F(CudaParity, IndexerScoreFp8KeysWithInlineScales) {
  const int64_t heads = 64, dim = 128, n_keys = 3000, stride = IndexKeyBytes(dim);
  auto q = Randn(static_cast<size_t>(heads * dim), rng_);
  auto w = Randn(static_cast<size_t>(heads), rng_);
  auto keys = Randn(static_cast<size_t>(n_keys * dim), rng_);
  std::vector<uint8_t> bytes(static_cast<size_t>(n_keys * stride));
  ASSERT_EQ(cpu_.QuantizeIndexKey({dim, n_keys, keys.data(), bytes.data()}), OpStatus::kOk);
  std::vector<float> want(static_cast<size_t>(n_keys));
  IndexerScoreParams p{q.data(), w.data(), nullptr, bytes.data(), bytes.data() + dim, stride,
                       stride,   n_keys,   heads,   dim,          want.data()};
  ASSERT_EQ(cpu_.IndexerScore(p), OpStatus::kOk);
  DeviceArray<float> dq(q), dw(w), dout(want.size());
  DeviceArray<uint8_t> db(bytes);
  p.q = dq.get(), p.weights = dw.get(), p.keys_fp8 = db.get(), p.key_scales = db.get() + dim;
  p.out = dout.get();
  ASSERT_EQ(gpu_.IndexerScore(p), OpStatus::kOk);
  ExpectNormClose(dout.Read(), want, "indexer_score");
}

TEST_F(CudaParity, TopKIsExactIncludingTies) {
  for (auto [n, k] : {std::pair<int64_t, int64_t>{262144, 512}, {1000, 1000}, {5000, 7}, {3, 0}}) {
    std::vector<float> scores(static_cast<size_t>(n));
    for (auto& s : scores) s = static_cast<float>(rng_() % 1000) * 0.25f;  // many ties
    std::vector<int32_t> want(static_cast<size_t>(k));
    ASSERT_EQ(cpu_.TopK({scores.data(), n, k, want.data()}), OpStatus::kOk);
    DeviceArray<float> ds(scores);
    DeviceArray<int32_t> dout(static_cast<size_t>(k));
    ASSERT_EQ(gpu_.TopK({ds.get(), n, k, dout.get()}), OpStatus::kOk);
    EXPECT_EQ(dout.Read(), want) << "n " << n << " k " << k;
  }
}

TEST_F(CudaParity, RouteEveryScoreFunction) {
  const int64_t rows = 16, experts = 256, k = 6;
  for (int32_t func : {kScoreSqrtSoftplus, kScoreSigmoid, kScoreSoftmax}) {
    auto logits = Randn(static_cast<size_t>(rows * experts), rng_, 2.0f);
    auto bias = Randn(static_cast<size_t>(experts), rng_, 0.1f);
    std::vector<int32_t> want_e(static_cast<size_t>(rows * k));
    std::vector<float> want_w(want_e.size());
    RouteParams p{logits.data(), bias.data(), nullptr, rows,          experts,      k,
                  func,          true,        2.5f,    want_e.data(), want_w.data()};
    ASSERT_EQ(cpu_.Route(p), OpStatus::kOk);
    DeviceArray<float> dl(logits), db(bias), dw(want_w.size());
    DeviceArray<int32_t> de(want_e.size());
    p.logits = dl.get(), p.bias = db.get(), p.experts = de.get(), p.weights = dw.get();
    ASSERT_EQ(gpu_.Route(p), OpStatus::kOk);
    EXPECT_EQ(de.Read(), want_e) << "score_func " << func;
    ExpectUlpClose(dw.Read(), want_w, "route weights");
  }
}

TEST_F(CudaParity, Swiglu) {
  for (float limit : {0.0f, 7.0f}) {
    const int64_t rows = 6, dim = 2048;
    auto gate = Randn(static_cast<size_t>(rows * dim), rng_, 5.0f);
    auto up = Randn(gate.size(), rng_, 5.0f);
    auto rs = Randn(static_cast<size_t>(rows), rng_);
    std::vector<float> want(gate.size());
    ASSERT_EQ(cpu_.Swiglu({gate.data(), up.data(), rs.data(), rows, dim, limit, want.data()}),
              OpStatus::kOk);
    DeviceArray<float> dg(gate), du(up), drs(rs), dout(want.size());
    ASSERT_EQ(gpu_.Swiglu({dg.get(), du.get(), drs.get(), rows, dim, limit, dout.get()}),
              OpStatus::kOk);
    ExpectUlpClose(dout.Read(), want, "swiglu");
  }
}

TEST_F(CudaParity, KvAndIndexKeyCodecsAreBitExact) {
  const int64_t nope = 448, rope = 64, n = 1000, entry = KvEntryBytes(nope, rope);
  auto v = Randn(static_cast<size_t>(n * (nope + rope)), rng_, 10.0f);
  std::vector<uint8_t> want(static_cast<size_t>(n * entry));
  ASSERT_EQ(cpu_.QuantizeKv({nope, rope, n, v.data(), want.data()}), OpStatus::kOk);
  DeviceArray<float> dv(v), dback(v.size());
  DeviceArray<uint8_t> dbytes(want.size());
  ASSERT_EQ(gpu_.QuantizeKv({nope, rope, n, dv.get(), dbytes.get()}), OpStatus::kOk);
  EXPECT_EQ(dbytes.Read(), want);
  std::vector<float> back(v.size());
  ASSERT_EQ(cpu_.DequantizeKv({nope, rope, n, back.data(), want.data()}), OpStatus::kOk);
  ASSERT_EQ(gpu_.DequantizeKv({nope, rope, n, dback.get(), dbytes.get()}), OpStatus::kOk);
  ExpectBitExact(dback.Read(), back, "dequantize_kv");

  const int64_t dim = 128, ik = IndexKeyBytes(dim);
  auto keys = Randn(static_cast<size_t>(n * dim), rng_, 3.0f);
  std::vector<uint8_t> kwant(static_cast<size_t>(n * ik));
  ASSERT_EQ(cpu_.QuantizeIndexKey({dim, n, keys.data(), kwant.data()}), OpStatus::kOk);
  DeviceArray<float> dk(keys), dkback(keys.size());
  DeviceArray<uint8_t> dkb(kwant.size());
  ASSERT_EQ(gpu_.QuantizeIndexKey({dim, n, dk.get(), dkb.get()}), OpStatus::kOk);
  EXPECT_EQ(dkb.Read(), kwant);
  std::vector<float> kback(keys.size());
  ASSERT_EQ(cpu_.DequantizeIndexKey({dim, n, kback.data(), kwant.data()}), OpStatus::kOk);
  ASSERT_EQ(gpu_.DequantizeIndexKey({dim, n, dkback.get(), dkb.get()}), OpStatus::kOk);
  ExpectBitExact(dkback.Read(), kback, "dequantize_index_key");
}

// Linear in each stored format: weights with random finite codes and scales, 1 and 5 activation
// rows (GEMV and a small batch), and a shape whose columns are not a multiple of 8 (scalar path).
struct LinearCase {
  WeightFormat format;
  int64_t rows, cols, n_x;
};

class CudaLinearParity : public CudaParity, public ::testing::WithParamInterface<LinearCase> {};

TEST_P(CudaLinearParity, MatchesCpu) {
  const LinearCase c = GetParam();
  std::vector<uint8_t> data, scale;
  int64_t scale_cols = 0;
  switch (c.format) {
    case WeightFormat::kF32: {
      auto f = Randn(static_cast<size_t>(c.rows * c.cols), rng_);
      data.resize(f.size() * 4);
      std::memcpy(data.data(), f.data(), data.size());
      break;
    }
    case WeightFormat::kBF16: {
      auto f = Randn(static_cast<size_t>(c.rows * c.cols), rng_);
      data.resize(f.size() * 2);
      for (size_t i = 0; i < f.size(); ++i) {
        const uint16_t h = FloatToBf16(f[i]);
        std::memcpy(data.data() + 2 * i, &h, 2);
      }
      break;
    }
    case WeightFormat::kFP8Block128:
      data.resize(static_cast<size_t>(c.rows * c.cols));
      for (auto& b : data) {
        b = static_cast<uint8_t>(rng_() & 0xff);
        if ((b & 0x7f) == 0x7f) b = 0x30;  // no NaN codes
      }
      scale_cols = (c.cols + 127) / 128;
      scale.resize(static_cast<size_t>((c.rows + 127) / 128 * scale_cols));
      for (auto& s : scale) s = static_cast<uint8_t>(118 + rng_() % 12);
      break;
    case WeightFormat::kMXFP4:
      data.resize(static_cast<size_t>(c.rows * c.cols / 2));
      for (auto& b : data) b = static_cast<uint8_t>(rng_());
      scale_cols = c.cols / 32;
      scale.resize(static_cast<size_t>(c.rows * scale_cols));
      for (auto& s : scale) s = static_cast<uint8_t>(122 + rng_() % 8);
      break;
    default:
      FAIL() << "format";
  }
  auto x = Randn(static_cast<size_t>(c.n_x * c.cols), rng_);
  WeightView w{c.format,  c.rows, c.cols, data.data(), scale.empty() ? nullptr : scale.data(),
               scale_cols};
  std::vector<float> want(static_cast<size_t>(c.n_x * c.rows));
  ASSERT_EQ(cpu_.Linear({&w, x.data(), c.n_x, want.data()}), OpStatus::kOk);
  DeviceArray<uint8_t> dd(data), ds(scale.empty() ? std::vector<uint8_t>{0} : scale);
  DeviceArray<float> dx(x), dy(want.size());
  WeightView dw = w;
  dw.data = dd.get();
  dw.scale = scale.empty() ? nullptr : ds.get();
  ASSERT_EQ(gpu_.Linear({&dw, dx.get(), c.n_x, dy.get()}), OpStatus::kOk);
  ExpectNormClose(dy.Read(), want, "linear");
}

INSTANTIATE_TEST_SUITE_P(Formats, CudaLinearParity,
                         ::testing::Values(LinearCase{WeightFormat::kBF16, 1000, 4096, 1},
                                           LinearCase{WeightFormat::kBF16, 300, 4096, 5},
                                           LinearCase{WeightFormat::kFP8Block128, 700, 2048, 1},
                                           LinearCase{WeightFormat::kFP8Block128, 260, 1004,
                                                      3},  // partial blocks, scalar path
                                           LinearCase{WeightFormat::kMXFP4, 512, 4096, 1},
                                           LinearCase{WeightFormat::kMXFP4, 64, 2048, 6},
                                           LinearCase{WeightFormat::kF32, 33, 999, 2},
                                           // Prefill batches: the planned tiled GEMM
                                           // (kernels/cuda/ops/linear_plan.h picks the tile).
                                           LinearCase{WeightFormat::kBF16, 300, 4096, 40},
                                           LinearCase{WeightFormat::kFP8Block128, 260, 1004, 100},
                                           LinearCase{WeightFormat::kMXFP4, 512, 2048, 300},
                                           LinearCase{WeightFormat::kF32, 33, 999, 21}));

TEST_F(CudaParity, BadParamsAreRejectedWithoutLaunching) {
  EXPECT_EQ(gpu_.TopK({nullptr, 10, 3, nullptr}), OpStatus::kBadParams);
  float dummy = 0;
  int32_t out = 0;
  EXPECT_EQ(gpu_.TopK({&dummy, 10000, 4096, &out}), OpStatus::kBadParams);  // k above the GPU limit
  EXPECT_EQ(gpu_.Hadamard({&dummy, 1, 12}), OpStatus::kBadParams);
  EXPECT_EQ(gpu_.RmsNorm({&dummy, nullptr, &dummy, 1, 0, 1e-6f}), OpStatus::kBadParams);
}

}  // namespace
}  // namespace fm::kernels
