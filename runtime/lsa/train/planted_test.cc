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

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <vector>

#include "kernels/cpu/thread_pool.h"
#include "runtime/engine/engine.h"
#include "runtime/lsa/labels/label_run.h"
#include "runtime/lsa/train/planted_test_util.h"
#include "runtime/lsa/train/train_init.h"
#include "runtime/lsa/train/trainer.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/tiny_checkpoint_test_util.h"
#include "scheduler/sim_clock.h"

namespace fm::rt::train {
namespace {

using testing::kFiller;
using testing::kNeedleLen;
using testing::kRunNeedleStart;
using testing::kTrainNeedleStart;
using testing::PlantedPrompt;

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
  rt::testing::TinyCheckpoint ck("planted", 13, "bf16");
  ModelOptions mo;
  mo.n_threads = 2;
  testing::PlantCheckpoint(ck.path(), 2);
  if (::testing::Test::HasFatalFailure()) return;
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
  for (int32_t tok : sum->generated)
    ASSERT_EQ(tok, kFiller) << "the filler is no longer a fixed point";
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
  rt::testing::ScratchDir out("planted_out");
  auto tr = IndexerTrainer::Create(std::move(*mi), &*corpus, o, out.path());
  ASSERT_TRUE(tr.ok()) << tr.status();
  ASSERT_TRUE(
      (*tr)->Run([](const std::string& l) { std::printf("%s\n", l.c_str()); }, nullptr).ok());
  const nlohmann::json& hist = (*tr)->state().history;
  ASSERT_EQ(hist.size(), 4u);
  const double recall_before = hist[0]["validation"]["recall_at_keep"].get<double>();
  const double recall_after = hist[3]["validation"]["recall_at_keep"].get<double>();
  const double keep = hist[3]["validation"]["keep_ratio"].get<double>();
  std::printf(
      "held-out recall at keep-ratio %.3f: native init %.4f, trained %.4f (%.0f samples/s)\n", keep,
      recall_before, recall_after, (*tr)->samples_per_second());
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
  std::printf("Level-2 coverage in lsa mode: native init %.4f, trained %.4f\n", cov_native,
              cov_trained);
  EXPECT_LT(cov_native, 0.9);
  EXPECT_GT(cov_trained, cov_native + 0.3);
}

}  // namespace
}  // namespace fm::rt::train
