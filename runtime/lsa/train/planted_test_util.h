#pragma once
// The planted-structure setup of planted_test.cc (see its file comment for the rule), shared with
// the CLI-level check in tests/e2e: the tiny model (seed 13) with its CSA index-key compressors
// edited so that Level 2 always picks the "needle" run of kNeedle tokens in a kFiller prompt.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kernels/cpu/ops_norm.h"
#include "kernels/numeric_formats.h"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/model/model.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/safetensors_file.h"
#include "runtime/weights/safetensors_writer.h"

namespace fm::rt::train::testing {

// The filler is the tiny model's (seed 13) greedy fixed point: after a run of it the model keeps
// generating it (checked below), so the decoded tokens are filler too.
constexpr int32_t kNeedle = 7, kFiller = 120;
constexpr int64_t kNeedleLen = 32;  // 8 chunks = 2 pages of 4 chunks when aligned
constexpr int64_t kTrainNeedleStart = 96, kRunNeedleStart = 32;

// The filler token with the needle run of kNeedleLen copies of kNeedle at `needle_start`.
inline std::vector<int32_t> PlantedPrompt(int64_t n, int64_t needle_start) {
  std::vector<int32_t> t(static_cast<size_t>(n), kFiller);
  std::fill_n(t.begin() + needle_start, kNeedleLen, kNeedle);
  return t;
}

struct LayerPlant {
  std::vector<float> a;  // [hidden]
  std::vector<float> v;  // [index_head_dim], pre-RoPE/Hadamard key space
};

// The hidden state of the last token of `tokens` on each of `layers`.
inline std::vector<std::vector<float>> LastHidden(const Model& model,
                                                  const std::vector<int64_t>& layers,
                                                  const std::vector<int32_t>& tokens) {
  auto seq = model.NewSequence();
  EXPECT_TRUE(seq->SetHiddenCapture(layers).ok());
  EXPECT_TRUE(seq->Prefill(tokens, 0, nullptr).ok());
  std::vector<std::vector<float>> out;
  for (int64_t l : layers) {
    auto h = seq->CapturedHidden(l);
    EXPECT_TRUE(h.ok()) << h.status();
    out.emplace_back(h->begin(), h->end());
  }
  return out;
}

// First pass on the unedited model (see the file comment): a = x^ - f^ from the hidden states of
// the needle token x (inside a run of it) and of the filler f, so a . x > 0 > a . f; v = the
// filler query's effective direction sum_h w_h q_h, taken back through the Hadamard (its own
// inverse) and without rope dims, so the needle key +v is what the filler tokens score highest.
inline std::vector<LayerPlant> MeasurePlant(const Model& model, MemoryIndexer& native) {
  const ModelConfig& c = model.config();
  const int64_t d = c.hidden_size, DI = c.index_head_dim, r = c.qk_rope_head_dim;
  const std::vector<int64_t> layers = native.model_layers();
  std::vector<int32_t> needle(64, kFiller);
  needle.insert(needle.end(), 16, kNeedle);
  const auto hx = LastHidden(model, layers, needle);
  const auto hf = LastHidden(model, layers, std::vector<int32_t>(80, kFiller));
  std::vector<LayerPlant> out(layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    double xn = 0, fn = 0;
    for (int64_t k = 0; k < d; ++k) {
      xn += hx[l][k] * hx[l][k];
      fn += hf[l][k] * hf[l][k];
    }
    xn = std::sqrt(xn);
    fn = std::sqrt(fn);
    out[l].a.resize(static_cast<size_t>(d));
    for (int64_t k = 0; k < d; ++k) out[l].a[k] = static_cast<float>(hx[l][k] / xn - hf[l][k] / fn);
    IndexerQueryBatch act;
    const int64_t pos = 80;
    EXPECT_TRUE(native.QueryForward(static_cast<int64_t>(l), hf[l].data(), &pos, 1, &act).ok());
    // v solves Had(q_h)[nope] . v = t_h (least norm): the two largest-w heads see +2 and -1, the
    // others 0, so the needle key +v scores 2 w_1 and the filler key -v scores w_2: both logits
    // are positive for the native indexer (it is miscalibrated for the 0.5 threshold) but the
    // needle ranks first, so Level 2 picks it.
    const int64_t H = native.target(static_cast<int64_t>(l)).n_heads, nope = DI - r;
    std::vector<int64_t> order(static_cast<size_t>(H));
    for (int64_t h = 0; h < H; ++h) order[h] = h;
    std::sort(order.begin(), order.end(),
              [&](int64_t x, int64_t y) { return act.w[x] > act.w[y]; });
    std::vector<std::vector<double>> Q(static_cast<size_t>(H));
    for (int64_t h = 0; h < H; ++h) {
      std::vector<float> qh(act.q.begin() + h * DI, act.q.begin() + (h + 1) * DI);
      EXPECT_EQ(kernels::cpu::Hadamard({qh.data(), 1, DI}, nullptr), kernels::OpStatus::kOk);
      Q[h].assign(qh.begin(), qh.begin() + nope);
    }
    std::vector<double> t(static_cast<size_t>(H), 0.0);
    t[order[0]] = 2.0;
    t[order[1]] = -1.0;
    // Least-norm solution v = Q^T (Q Q^T)^-1 t by Gaussian elimination on the H x H system.
    std::vector<std::vector<double>> G(H, std::vector<double>(H + 1, 0.0));
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = 0; j < H; ++j)
        for (int64_t k = 0; k < nope; ++k) G[i][j] += Q[i][k] * Q[j][k];
      G[i][H] = t[i];
    }
    for (int64_t i = 0; i < H; ++i) {
      for (int64_t j = i + 1; j < H; ++j) {
        const double f = G[j][i] / G[i][i];
        for (int64_t k = i; k <= H; ++k) G[j][k] -= f * G[i][k];
      }
    }
    std::vector<double> y(static_cast<size_t>(H));
    for (int64_t i = H - 1; i >= 0; --i) {
      double acc = G[i][H];
      for (int64_t j = i + 1; j < H; ++j) acc -= G[i][j] * y[j];
      y[i] = acc / G[i][i];
    }
    std::vector<float> g(static_cast<size_t>(DI), 0.0f);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t k = 0; k < nope; ++k) g[k] += static_cast<float>(y[h] * Q[h][k]);
    out[l].v = g;
  }
  return out;
}

// Rewrites the index-key compressors of the CSA layers (see the file comment).
inline void PlantKeys(const std::filesystem::path& dir, const std::vector<int64_t>& layers,
                      const std::vector<LayerPlant>& plant) {
  const std::filesystem::path file = dir / "model.safetensors";
  auto st = SafetensorsFile::Open(file, "model.safetensors");
  ASSERT_TRUE(st.ok()) << st.status();
  SafetensorsWriter w;
  for (const TensorRef& t : (*st)->tensors()) {
    std::vector<uint8_t> bytes(t.data, t.data + t.nbytes);
    for (size_t l = 0; l < layers.size(); ++l) {
      const std::string p = "layers." + std::to_string(layers[l]) + ".attn.indexer.compressor.";
      if (t.name == p + "wkv.weight") {
        ASSERT_EQ(t.dtype, DType::kBF16);
        const int64_t rows = t.shape[0], cols = t.shape[1], DI = rows / 2;
        for (int64_t rr = 0; rr < rows; ++rr) {
          for (int64_t cc = 0; cc < cols; ++cc) {
            const uint16_t b = kernels::FloatToBf16(plant[l].v[rr % DI] * plant[l].a[cc]);
            std::memcpy(bytes.data() + 2 * (rr * cols + cc), &b, 2);
          }
        }
      } else if (t.name == p + "wgate.weight" || t.name == p + "ape") {
        std::fill(bytes.begin(), bytes.end(), 0);
      }
    }
    w.Add(t.name, t.dtype, t.shape, std::move(bytes));
  }
  for (const auto& [k, v] : (*st)->metadata()) w.SetMetadata(k, v);
  st->reset();
  ASSERT_TRUE(w.WriteFile(dir / "model.safetensors.new").ok());
  std::filesystem::rename(dir / "model.safetensors.new", file);
}

// Edits the tiny checkpoint (seed 13) in `dir` in place: measures the plant on the unedited model
// and rewrites its index-key compressors.
inline void PlantCheckpoint(const std::filesystem::path& dir, int n_threads) {
  ModelOptions mo;
  mo.n_threads = n_threads;
  auto model = Model::Load(dir, mo);
  ASSERT_TRUE(model.ok()) << model.status();
  auto ckp = Checkpoint::Open(dir);
  ASSERT_TRUE(ckp.ok()) << ckp.status();
  auto native = MemoryIndexer::FromNative(**ckp, DefaultTargetCsaIndices((*ckp)->config()), {});
  ASSERT_TRUE(native.ok()) << native.status();
  const std::vector<LayerPlant> plant = MeasurePlant(**model, **native);
  model->reset();
  ckp->reset();
  PlantKeys(dir, (*native)->model_layers(), plant);
}

}  // namespace fm::rt::train::testing
