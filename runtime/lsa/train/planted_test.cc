// The planted-structure acceptance test of issue #10.
//
// The planted rule. The tiny synthetic model (seed 13) is edited so that the native Lightning
// Indexer of every CSA layer, hence Level 2, attends to one "needle": a run of 32 copies of a token
// X in a prompt of a filler token F (F = 120 is this model's greedy fixed point: after a run of it
// the model keeps generating it, so the decoded tokens are F as well). The edit touches only the
// index-key compressors: their value projection becomes rank one, wkv = [v; v] a^T, and their gate
// and position bias are zeroed, so pooling is a plain mean and every stored key is +-|g| v / rms
// (the rope dims of v are zero, so RoPE leaves it alone). The content of a chunk only chooses the
// sign, through the mean of a . h over its 8-token pooling window; a = x^ - f^ (the normalised
// hidden states of X and F, measured on the unedited model) is positive on the needle and negative
// on the filler, so the 8 chunks whose window is mostly needle get +v and all others -v. v is
// solved from the filler query's heads so that the highest-w head sees +2 on +v and the second
// -1 (it fires on -v): the needle scores 2 w_1, the filler w_2 > 0. Level 2 therefore always picks
// the needle, and the golden chunks of `flashmem label` (top-k = index_topk, p = 1, theta = 1: the
// union of the layers' Level-2 picks) are exactly "the chunks whose key lies on the +v side", a
// rule the memory indexer expresses with its own native-initialised q and w. What the native
// initialisation lacks is calibration: the filler's logits are positive too, so at the Level-1
// threshold (sigma > 0.5) every page is equally dense and the recency tie-break keeps the wrong
// pages; training has to push the filler below 0.
//
// Acceptance: after training from the native initialisation, the recall of the held-out tokens'
// positives inside the pages the Level-1 policy keeps (KMAX = 5 pages of 4 chunks incl. a 4-chunk
// tail, keep-ratio < 0.3) is >= 0.9; and the trained weights, saved and loaded the way
// `flashmem run --mode lsa --indexer FILE` loads them, run through the engine in lsa mode on a new
// prompt whose needle sits elsewhere, cover far more Level-2 picks than the native initialisation
// in the same configuration.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cpu/ops_norm.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/numeric_formats.h"
#include "runtime/engine/engine.h"
#include "runtime/lsa/labels/label_run.h"
#include "runtime/lsa/train/train_init.h"
#include "runtime/lsa/train/trainer.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/safetensors_file.h"
#include "runtime/weights/safetensors_writer.h"
#include "runtime/weights/tiny_checkpoint_test_util.h"
#include "scheduler/sim_clock.h"

namespace fm::rt::train {
namespace {

// The filler is the tiny model's (seed 13) greedy fixed point: after a run of it the model keeps
// generating it (checked below), so the decoded tokens are filler too.
constexpr int32_t kNeedle = 7, kFiller = 120;
constexpr int64_t kNeedleLen = 32;  // 8 chunks = 2 pages of 4 chunks when aligned
constexpr int64_t kTrainNeedleStart = 96, kRunNeedleStart = 32;

// The filler token with the needle run of kNeedleLen copies of kNeedle at `needle_start`.
std::vector<int32_t> PlantedPrompt(int64_t n, int64_t needle_start) {
  std::vector<int32_t> t(static_cast<size_t>(n), kFiller);
  std::fill_n(t.begin() + needle_start, kNeedleLen, kNeedle);
  return t;
}

struct LayerPlant {
  std::vector<float> a;  // [hidden]
  std::vector<float> v;  // [index_head_dim], pre-RoPE/Hadamard key space
};

// The hidden state of the last token of `tokens` on each of `layers`.
std::vector<std::vector<float>> LastHidden(const Model& model, const std::vector<int64_t>& layers,
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
std::vector<LayerPlant> MeasurePlant(const Model& model, MemoryIndexer& native) {
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
    std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return act.w[x] > act.w[y]; });
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
void PlantKeys(const std::filesystem::path& dir, const std::vector<int64_t>& layers,
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

struct RunConfig {
  int32_t page_chunks = 4, tau = 8, delta = 4, kmax = 5;
  int64_t tail = 4;
};

double Coverage(const Model& model, MemoryIndexer* indexer, const RunConfig& rc,
                const std::vector<int32_t>& prompt, int64_t decode) {
  EngineConfig c;
  c.mode = SelectionMode::kLsa;
  c.chunks_per_page = rc.page_chunks;
  c.params.tau_steps = rc.tau;
  c.params.publish_delay_steps = rc.delta;
  c.params.policy.kmax_pages = rc.kmax;
  c.params.policy.tail_chunks = rc.tail;
  c.max_requests = 1;
  c.max_context_tokens = static_cast<int64_t>(prompt.size()) + decode;
  c.measure_coverage = true;
  sched::VirtualClock clock;
  auto e = Engine::Create(&model, indexer, c, &clock);
  EXPECT_TRUE(e.ok()) << e.status();
  if (!e.ok()) return -1;
  EXPECT_TRUE((*e)->AddRequest(prompt, 0, decode, 1).ok());
  while ((*e)->active_requests() > 0) {
    auto r = (*e)->Step();
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return -1;
  }
  const EngineStats& st = (*e)->stats();
  return st.picks > 0 ? static_cast<double>(st.picks_resident) / static_cast<double>(st.picks) : -1;
}

TEST(PlantedTest, TrainedIndexerFindsThePlantedPagesAndRaisesLevel2Coverage) {
  testing::TinyCheckpoint ck("planted", 13, "bf16");
  ModelOptions mo;
  mo.n_threads = 2;
  {
    auto model = Model::Load(ck.path(), mo);
    ASSERT_TRUE(model.ok()) << model.status();
    auto ckp = Checkpoint::Open(ck.path());
    ASSERT_TRUE(ckp.ok()) << ckp.status();
    auto native = MemoryIndexer::FromNative(**ckp, DefaultTargetCsaIndices((*ckp)->config()), {});
    ASSERT_TRUE(native.ok()) << native.status();
    const std::vector<LayerPlant> plant = MeasurePlant(**model, **native);
    PlantKeys(ck.path(), (*native)->model_layers(), plant);
  }
  auto model = Model::Load(ck.path(), mo);
  ASSERT_TRUE(model.ok()) << model.status();
  const ModelConfig& cfg = (*model)->config();

  // Labels: `flashmem label` with top-k = index_topk, p = 1, theta = 1 (golden = the union of the
  // CSA layers' Level-2 picks), 256 decode tokens after a 160-token prompt (the whole document
  // stays below position ~420, where this model's greedy decode leaves the filler).
  labels::LabelRunOptions lo;
  lo.constants.topk = static_cast<int32_t>(cfg.index_topk);
  lo.constants.top_p = 1.0f;
  lo.constants.min_layers = 1;
  lo.n_decode = 256;
  lo.stop_at_eos = false;
  const auto file = ck.path().parent_path() / "planted.fmlabels";
  auto sum = labels::RunLabelDocument(**model, PlantedPrompt(160, kTrainNeedleStart), lo, file);
  ASSERT_TRUE(sum.ok()) << sum.status();
  for (int32_t tok : sum->generated) ASSERT_EQ(tok, kFiller) << "the filler is no longer a fixed point";
  auto corpus = LoadTrainCorpus({file}, cfg, 0.8);
  ASSERT_TRUE(corpus.ok()) << corpus.status();
  // The planted rule holds: every golden chunk is a needle chunk (the 8 whose pooling window is
  // mostly needle: chunks 25..32 for the run at tokens 96..127).
  const DocumentLabels& L = corpus->documents[0].labels;
  ASSERT_FALSE(L.chunks.empty());
  for (int32_t c : L.chunks) {
    ASSERT_GE(c, kTrainNeedleStart / 4);
    ASSERT_LE(c, (kTrainNeedleStart + kNeedleLen) / 4);
  }

  // Train from the native initialisation, widened to 8 heads (the 4 extra start from PyTorch's
  // default initialisation, as the reference does). The learning rate suits a 64-wide model.
  auto ckp = Checkpoint::Open(ck.path());
  ASSERT_TRUE(ckp.ok());
  NativeInitOptions init;
  init.n_heads = 8;
  auto mi = MemoryIndexer::FromNative(**ckp, corpus->csa_indices(), init);
  ASSERT_TRUE(mi.ok()) << mi.status();
  InitPaddingLikeTorch(mi->get(), cfg.index_n_heads, cfg.q_lora_rank, 1);
  kernels::cpu::ThreadPool pool(2);
  (*mi)->UseThreadPool(&pool);
  // The run configuration: 4-chunk pages, tau 8, delta 4, KMAX 5 pages with a 4-chunk tail.
  RunConfig rc;
  TrainOptions o;
  o.sampling.tau = rc.tau;
  o.epochs = 3;
  o.batch = 16;
  o.adam.lr = 3e-3;
  o.val_fraction = 0.25;
  o.validation.policy.kmax_pages = rc.kmax;
  o.validation.policy.tail_chunks = rc.tail;
  o.validation.geometry.chunks_per_page = rc.page_chunks;
  testing::ScratchDir out("planted_out");
  auto tr = IndexerTrainer::Create(std::move(*mi), &*corpus, o, out.path());
  ASSERT_TRUE(tr.ok()) << tr.status();
  ASSERT_TRUE((*tr)->Run([](const std::string& l) { std::printf("%s\n", l.c_str()); }, nullptr).ok());
  const nlohmann::json& hist = (*tr)->state().history;
  ASSERT_EQ(hist.size(), 4u);
  const double recall_before = hist[0]["validation"]["recall_at_keep"].get<double>();
  const double recall_after = hist[3]["validation"]["recall_at_keep"].get<double>();
  const double keep = hist[3]["validation"]["keep_ratio"].get<double>();
  std::printf("held-out recall at keep-ratio %.3f: native init %.4f, trained %.4f (%.0f samples/s)\n",
              keep, recall_before, recall_after, (*tr)->samples_per_second());
  EXPECT_LT(keep, 0.3);
  EXPECT_GE(recall_after, 0.9);

  // The run: the saved weights, loaded as `flashmem run --indexer` loads them, against the native
  // initialisation, on a new prompt whose needle sits elsewhere (tokens 32..63).
  auto native = MemoryIndexer::FromNative(**ckp, DefaultTargetCsaIndices(cfg), {});
  ASSERT_TRUE(native.ok());
  auto trained = MemoryIndexer::FromSafetensors(out.path() / kIndexerFileName, cfg,
                                                DefaultTargetCsaIndices(cfg));
  ASSERT_TRUE(trained.ok()) << trained.status();
  const std::vector<int32_t> prompt = PlantedPrompt(160, kRunNeedleStart);
  const double cov_native = Coverage(**model, native->get(), rc, prompt, 128);
  const double cov_trained = Coverage(**model, trained->get(), rc, prompt, 128);
  std::printf("Level-2 coverage in lsa mode: native init %.4f, trained %.4f\n", cov_native, cov_trained);
  EXPECT_LT(cov_native, 0.9);
  EXPECT_GT(cov_trained, cov_native + 0.3);
}

}  // namespace
}  // namespace fm::rt::train
