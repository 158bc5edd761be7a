// IndexerTrainer end to end on a random in-memory corpus: training lowers the loss; an
// interrupted run (--max-steps) resumed from its checkpoint ends bit-identical to an uninterrupted
// one; corrupt, truncated, mismatched or foreign checkpoints are refused with errors naming the
// file; label files written by the label writer load into the corpus the trainer reads; the saved
// weights load through MemoryIndexer::FromSafetensors (what `flashmem run --indexer` uses).

#include "runtime/lsa/train/trainer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/thread_pool.h"
#include "runtime/lsa/train/train_test_util.h"
#include "runtime/weights/test_util.h"

namespace fm::rt::train {
namespace {

using testing::RandomCorpus;
using testing::ExpectSameWeights;
using testing::RandomTwoTargetIndexer;
using testing::SmallTrainOptions;
using testing::TinyModelConfig;

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = TinyModelConfig();
    std::mt19937_64 rng(21);
    corpus_ = RandomCorpus(config_, {0, 1}, 48, 50, rng);
    options_ = SmallTrainOptions();
  }

  std::unique_ptr<MemoryIndexer> InitialIndexer() const {
    return RandomTwoTargetIndexer(config_, 16, 2, 3);
  }

  std::unique_ptr<IndexerTrainer> Make(std::unique_ptr<MemoryIndexer> mi,
                                       const std::filesystem::path& out, const TrainOptions& o) {
    mi->UseThreadPool(&pool_);
    auto tr = IndexerTrainer::Create(std::move(mi), &corpus_, o, out);
    EXPECT_TRUE(tr.ok()) << tr.status();
    return tr.ok() ? std::move(*tr) : nullptr;
  }

  TrainOptions WithEpochs(int64_t epochs) const {
    TrainOptions o = options_;
    o.epochs = epochs;
    return o;
  }
  TrainOptions StoppingAfter(int64_t steps) const {
    TrainOptions o = options_;
    o.max_steps = steps;
    return o;
  }

  // A trainer from the initial weights, run to its end (or max_steps); null after a failure.
  std::unique_ptr<IndexerTrainer> TrainFresh(const std::filesystem::path& out,
                                             const TrainOptions& o) {
    std::unique_ptr<IndexerTrainer> tr = Make(InitialIndexer(), out, o);
    if (!tr) return nullptr;
    const absl::Status s = tr->Run(nullptr, nullptr);
    EXPECT_TRUE(s.ok()) << s;
    return s.ok() ? std::move(tr) : nullptr;
  }

  std::unique_ptr<MemoryIndexer> LoadSaved(const std::filesystem::path& out) const {
    auto mi = MemoryIndexer::FromSafetensors(out / kIndexerFileName, config_, {0, 1});
    EXPECT_TRUE(mi.ok()) << mi.status();
    return mi.ok() ? std::move(*mi) : nullptr;
  }

  ModelConfig config_;
  TrainCorpus corpus_;
  TrainOptions options_;
  kernels::cpu::ThreadPool pool_{2};
};

TEST_F(TrainerTest, TrainingLowersTheLossAndSavesLoadableWeights) {
  rt::testing::ScratchDir out("trainer_loss");
  auto tr = Make(InitialIndexer(), out.path(), options_);
  ASSERT_TRUE(tr);
  auto first = tr->BatchSamples(0, 0);
  std::vector<RetrieverGrads> g;
  auto before = tr->LossAndGrads(first, &g);
  ASSERT_TRUE(before.ok());
  ASSERT_TRUE(tr->Run(nullptr, nullptr).ok());
  auto after = tr->LossAndGrads(first, &g);
  ASSERT_TRUE(after.ok());
  EXPECT_LT(*after, *before * 0.9);
  EXPECT_EQ(tr->state().step, tr->total_steps());
  ASSERT_EQ(tr->state().history.size(), 3u);  // initial + 2 epochs
  EXPECT_EQ(tr->state().history[2]["epoch"], 2);
  EXPECT_GT(tr->samples_per_second(), 0);
  auto saved = LoadSaved(out.path());
  ASSERT_TRUE(saved);
  ExpectSameWeights(*saved, tr->indexer());
}

TEST_F(TrainerTest, InterruptedRunResumesToTheSameResult) {
  rt::testing::ScratchDir full("trainer_full"), parts("trainer_parts");
  auto a = TrainFresh(full.path(), options_);
  ASSERT_TRUE(a);
  ASSERT_GT(a->total_steps(), 3);

  const TrainOptions stop = StoppingAfter(3);  // mid-epoch 1 (steps_per_epoch = 5)
  auto b = TrainFresh(parts.path(), stop);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->state().step, 3);
  b.reset();
  // A fresh process: weights from the checkpoint, then the optimizer state.
  auto c = Make(LoadSaved(parts.path()), parts.path(), options_);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Resume().ok());
  EXPECT_EQ(c->state().step, 3);
  ASSERT_TRUE(c->Run(nullptr, nullptr).ok());
  ExpectSameWeights(a->indexer(), c->indexer());
  ASSERT_EQ(a->state().history.size(), c->state().history.size());
  for (size_t i = 0; i < a->state().history.size(); ++i) {
    EXPECT_EQ(a->state().history[i]["validation"], c->state().history[i]["validation"]) << i;
    EXPECT_EQ(a->state().history[i]["train_loss"], c->state().history[i]["train_loss"]) << i;
  }
  // The best so far survived the interruption.
  EXPECT_EQ(a->state().best.ToJson(), c->state().best.ToJson());
  EXPECT_EQ(rt::testing::ReadBytes(full.path() / kBestIndexerFileName),
            rt::testing::ReadBytes(parts.path() / kBestIndexerFileName));
}

// The index of the first history entry with the highest ensemble F1.
size_t ArgmaxF1(const nlohmann::json& history) {
  size_t best = 0;
  for (size_t i = 1; i < history.size(); ++i) {
    if (history[i]["validation"]["ensemble_mean"]["f1"].get<double>() >
        history[best]["validation"]["ensemble_mean"]["f1"].get<double>()) {
      best = i;
    }
  }
  return best;
}

TEST_F(TrainerTest, BestCheckpointHoldsTheWeightsOfTheBestValidationF1) {
  rt::testing::ScratchDir out("trainer_best");
  const TrainOptions o = WithEpochs(4);
  auto tr = TrainFresh(out.path(), o);
  ASSERT_TRUE(tr);
  const nlohmann::json& h = tr->state().history;
  ASSERT_EQ(h.size(), 5u);
  const size_t arg = ArgmaxF1(h);
  // This corpus peaks mid-run (at epoch 1), so the best is not simply the last weights.
  ASSERT_GT(arg, 0u);
  ASSERT_LT(arg, h.size() - 1);
  const BestValidation& best = tr->state().best;
  EXPECT_EQ(best.epoch, static_cast<int64_t>(arg));
  EXPECT_EQ(best.step, h[arg]["step"].get<int64_t>());
  EXPECT_EQ(best.f1, h[arg]["validation"]["ensemble_mean"]["f1"].get<double>());
  EXPECT_FALSE(best.early_stopped);
  double running = -1;
  for (size_t i = 0; i < h.size(); ++i) {
    const double f1 = h[i]["validation"]["ensemble_mean"]["f1"].get<double>();
    EXPECT_EQ(h[i]["best"].get<bool>(), f1 > running) << i;
    running = std::max(running, f1);
  }
  auto step = IndexerFileStep(out.path() / kBestIndexerFileName);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(*step, best.step);
  // The file holds those weights: validated again, it gives the recorded F1 exactly.
  auto reloaded =
      MemoryIndexer::FromSafetensors(out.path() / kBestIndexerFileName, config_, {0, 1});
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  rt::testing::ScratchDir other("trainer_best_check");
  auto check = Make(std::move(*reloaded), other.path(), o);
  ASSERT_TRUE(check);
  auto m = check->Validate();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->ensemble.f1, best.f1);
  EXPECT_NE(check->indexer().target(0).wq_a, tr->indexer().target(0).wq_a);
}

TEST_F(TrainerTest, PatienceStopsEarlyAndResumeKeepsTheBest) {
  rt::testing::ScratchDir full("trainer_nopatience"), early("trainer_patience");
  const TrainOptions o = WithEpochs(8);
  auto a = TrainFresh(full.path(), o);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->state().step, a->total_steps());
  const int64_t best_epoch = a->state().best.epoch;
  ASSERT_LT(best_epoch + 2, o.epochs);  // two validations without improvement happen

  TrainOptions p = o;
  p.patience = 2;
  auto b = TrainFresh(early.path(), p);
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->state().best.early_stopped);
  EXPECT_EQ(b->state().best.since, 2);
  EXPECT_EQ(b->state().best.epoch, best_epoch);
  EXPECT_EQ(b->state().step, (best_epoch + 2) * b->steps_per_epoch());
  EXPECT_EQ(b->state().history.size(), static_cast<size_t>(best_epoch + 3));
  b.reset();

  // Resumed with the same patience: nothing more to do.
  auto c = Make(LoadSaved(early.path()), early.path(), p);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Resume().ok());
  EXPECT_TRUE(c->state().best.early_stopped);
  const int64_t stopped_at = c->state().step;
  ASSERT_TRUE(c->Run(nullptr, nullptr).ok());
  EXPECT_EQ(c->state().step, stopped_at);
  c.reset();
  // Resumed with patience off: it goes on to the end, keeping the best so far, and ends where the
  // uninterrupted run without patience ends.
  auto d = Make(LoadSaved(early.path()), early.path(), o);
  ASSERT_TRUE(d);
  ASSERT_TRUE(d->Resume().ok());
  EXPECT_FALSE(d->state().best.early_stopped);
  ASSERT_TRUE(d->Run(nullptr, nullptr).ok());
  EXPECT_EQ(d->state().step, d->total_steps());
  ExpectSameWeights(a->indexer(), d->indexer());
  EXPECT_EQ(a->state().best.ToJson(), d->state().best.ToJson());
  EXPECT_EQ(rt::testing::ReadBytes(full.path() / kBestIndexerFileName),
            rt::testing::ReadBytes(early.path() / kBestIndexerFileName));
  // A negative patience is refused.
  TrainOptions bad = o;
  bad.patience = -1;
  auto mi = InitialIndexer();
  auto tr = IndexerTrainer::Create(std::move(mi), &corpus_, bad, early.path());
  EXPECT_EQ(tr.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tr.status().message().find("patience"), std::string::npos) << tr.status();
}

TEST_F(TrainerTest, BadCheckpointsAreRefusedNamingTheFile) {
  rt::testing::ScratchDir out("trainer_bad");
  const TrainOptions stop = StoppingAfter(2);
  auto a = TrainFresh(out.path(), stop);
  ASSERT_TRUE(a);
  const std::filesystem::path state = out.path() / kTrainStateFileName;
  const std::filesystem::path weights = out.path() / kIndexerFileName;
  const std::string state_bytes = rt::testing::ReadBytes(state);
  const std::string weight_bytes = rt::testing::ReadBytes(weights);
  auto resume = [&](const TrainOptions& o) {
    auto tr = Make(InitialIndexer(), out.path(), o);
    return tr ? tr->Resume() : absl::InternalError("no trainer");
  };
  ASSERT_TRUE(resume(options_).ok());

  // Truncated state.
  rt::testing::WriteBytes(state, state_bytes.substr(0, state_bytes.size() / 2));
  absl::Status s = resume(options_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(kTrainStateFileName), std::string::npos) << s;
  // Garbage state.
  rt::testing::WriteBytes(state, std::string(64, '\x7f'));
  s = resume(options_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(kTrainStateFileName), std::string::npos) << s;
  // Missing state.
  std::filesystem::remove(state);
  s = resume(options_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(kTrainStateFileName), std::string::npos) << s;
  rt::testing::WriteBytes(state, state_bytes);
  // Truncated weights: the runtime loader refuses them, and so does resume.
  rt::testing::WriteBytes(weights, weight_bytes.substr(0, weight_bytes.size() - 100));
  auto mi = MemoryIndexer::FromSafetensors(weights, config_, {0, 1});
  EXPECT_FALSE(mi.ok());
  EXPECT_NE(mi.status().message().find(kIndexerFileName), std::string::npos) << mi.status();
  s = resume(options_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(kIndexerFileName), std::string::npos) << s;
  // Weights from another step (an interrupted save).
  auto other = InitialIndexer();
  ASSERT_TRUE(WriteIndexerWeights(*other, 7, weights).ok());
  s = resume(options_);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("step 7"), std::string::npos) << s;
  rt::testing::WriteBytes(weights, weight_bytes);
  // A corrupt or missing best.safetensors (the state records the best at step 0).
  const std::filesystem::path best = out.path() / kBestIndexerFileName;
  const std::string best_bytes = rt::testing::ReadBytes(best);
  rt::testing::WriteBytes(best, best_bytes.substr(0, best_bytes.size() / 2));
  s = resume(options_);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(kBestIndexerFileName), std::string::npos) << s;
  std::filesystem::remove(best);
  s = resume(options_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(kBestIndexerFileName), std::string::npos) << s;
  // Best weights of another step at or before the state's: refused; after it (a save that the
  // state did not record yet, redone by the resumed run): accepted.
  ASSERT_TRUE(WriteIndexerWeights(*other, 1, best).ok());
  s = resume(options_);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(kBestIndexerFileName), std::string::npos) << s;
  ASSERT_TRUE(WriteIndexerWeights(*other, 9, best).ok());
  EXPECT_TRUE(resume(options_).ok());
  rt::testing::WriteBytes(best, best_bytes);
  // Different settings.
  TrainOptions other_batch = options_;
  other_batch.batch = 4;
  s = resume(other_batch);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("batch=8"), std::string::npos) << s;
  // A plain retriever file (not a trainer state) as state.
  std::filesystem::copy_file(weights, state, std::filesystem::copy_options::overwrite_existing);
  s = resume(options_);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("format"), std::string::npos) << s;
}

TEST_F(TrainerTest, LabelFilesLoadIntoTheCorpus) {
  rt::testing::ScratchDir dir("trainer_labels");
  const TrainDocument& src = corpus_.documents[0];
  testing::WriteLabelFiles(config_, corpus_, dir.path());
  std::filesystem::rename(dir.path() / "doc_000.fmlabels", dir.path() / "a.fmlabels");
  // Streamed (the default): the labels only.
  auto streamed = LoadTrainCorpus({dir.path()}, config_, 0.8);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  ASSERT_EQ(streamed->documents.size(), 1u);
  EXPECT_TRUE(streamed->documents[0].streamed);
  EXPECT_TRUE(streamed->documents[0].hidden.empty());
  EXPECT_TRUE(streamed->documents[0].keys.empty());
  EXPECT_EQ(streamed->documents[0].labels.ptr, src.labels.ptr);
  EXPECT_EQ(streamed->documents[0].labels.chunks, src.labels.chunks);
  EXPECT_EQ(streamed->documents[0].labels.trivial, src.labels.trivial);
  EXPECT_EQ(streamed->feature_bytes(), corpus_.feature_bytes());
  EXPECT_LT(streamed->label_bytes(), corpus_.feature_bytes() / 10);
  auto loaded = LoadTrainCorpus({dir.path()}, config_, 0.8, CorpusStorage::kInMemory);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->documents.size(), 1u);
  const TrainDocument& got = loaded->documents[0];
  EXPECT_EQ(got.labels.positions, src.labels.positions);
  EXPECT_EQ(got.labels.visible, src.labels.visible);
  EXPECT_EQ(got.labels.ptr, src.labels.ptr);
  EXPECT_FALSE(got.streamed);
  EXPECT_EQ(got.hidden, src.hidden);
  EXPECT_EQ(got.keys, src.keys);
  // A model with another hidden size is refused naming the file.
  ModelConfig wrong = config_;
  wrong.hidden_size = 96;
  auto bad = LoadTrainCorpus({dir.path() / "a.fmlabels"}, wrong, 0.8);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("a.fmlabels"), std::string::npos) << bad.status();
  // A truncated label file is refused.
  const std::string bytes = rt::testing::ReadBytes(dir.path() / "a.fmlabels");
  rt::testing::WriteBytes(dir.path() / "a.fmlabels", bytes.substr(0, bytes.size() - 10));
  for (CorpusStorage storage : {CorpusStorage::kStreamed, CorpusStorage::kInMemory}) {
    auto truncated = LoadTrainCorpus({dir.path()}, config_, 0.8, storage);
    EXPECT_FALSE(truncated.ok());
    EXPECT_NE(truncated.status().message().find("a.fmlabels"), std::string::npos)
        << truncated.status();
  }
}

}  // namespace
}  // namespace fm::rt::train
