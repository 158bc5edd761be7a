#pragma once
// IndexerTrainer: trains the memory indexer on a label corpus (spec §8) with the runtime's own
// forward (MemoryIndexer::QueryForward / ScoreKeys) and the hand-written backward of
// indexer_backward.h. One optimizer step takes `batch` samples (document, decode token) from the
// training tokens (all but the last val_fraction of each document's tokens), scores each sample's
// positives and negatives on every target layer, and minimises the focal BCE averaged per layer
// over the batch's entries and then over layers; AdamW with a cosine schedule and global
// gradient-norm clipping. After each epoch it validates on the held-out tokens (validation.h),
// appends the report to the history, saves a checkpoint (train_checkpoint.h) and hands the
// history to the caller (the CLI writes it as JSON and SVG). Epoch 0 of the history is the
// initial indexer, before any step. Whenever the validation's ensemble F1 improves on the best so
// far (epoch 0 included), the weights are also saved as best.safetensors; with patience > 0,
// training stops after that many validations in a row without improvement (spec §8).
// Hidden states and keys come through a FeatureStore (feature_store.h): with a streamed corpus
// only the batch's token records and the key-row blocks its samples score are read (a bounded
// block cache); validation holds a few documents' whole keys.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/lsa/train/adamw.h"
#include "runtime/lsa/train/feature_store.h"
#include "runtime/lsa/train/indexer_backward.h"
#include "runtime/lsa/train/sampling.h"
#include "runtime/lsa/train/train_checkpoint.h"
#include "runtime/lsa/train/train_corpus.h"
#include "runtime/lsa/train/validation.h"

namespace fm::rt::train {

struct TrainOptions {
  SamplingOptions sampling;
  AdamWOptions adam;
  double gamma = 2.0;      // focal exponent
  double clip_norm = 1.0;  // global gradient-norm clip
  int64_t epochs = 3;
  int64_t batch = 64;
  double val_fraction = 0.1;  // last fraction of each document's tokens held out
  int64_t val_stride = 4;     // every 4th held-out token is scored against all chunks
  uint64_t seed = 1;
  int64_t max_steps = 0;  // > 0: stop with a checkpoint once this many steps are done in total
  int64_t checkpoint_every = 0;  // > 0: also checkpoint every this many steps
  int64_t patience = 0;          // > 0: stop after this many validations without a better F1
  ValidationOptions validation;  // tau is taken from sampling.tau
  FeatureStoreOptions store;     // memory bounds of a streamed corpus
};

// One sample ready for the loss: its token and scored entries.
struct TrainSample {
  TokenRef token;
  SampleEntries entries;
};

struct StepStats {
  double loss = 0;
  double grad_norm = 0;  // before clipping
  double lr = 0;
};

class IndexerTrainer {
 public:
  // `indexer` holds the starting weights (FromNative for a new run; the output directory's
  // indexer.safetensors for --resume, followed by Resume()). `corpus` must outlive the trainer.
  static absl::StatusOr<std::unique_ptr<IndexerTrainer>> Create(
      std::unique_ptr<MemoryIndexer> indexer, const TrainCorpus* corpus,
      const TrainOptions& options, std::filesystem::path out_dir);

  // Loads the optimizer state saved in the output directory (see LoadTrainState).
  absl::Status Resume();

  // Trains until the last epoch ends (or max_steps). `log` receives progress lines; `on_epoch`
  // receives the history after each validation (may be empty).
  using Logger = std::function<void(const std::string&)>;
  using EpochHook = std::function<absl::Status(const nlohmann::json& history)>;
  absl::Status Run(const Logger& log, const EpochHook& on_epoch);

  // The loss of `samples` (mean over layers of each layer's mean over all entries) and its
  // gradients (overwritten, shaped like the weights). Exposed for the gradient check.
  absl::StatusOr<double> LossAndGrads(absl::Span<const TrainSample> samples,
                                      std::vector<RetrieverGrads>* grads);

  // The samples of batch `index` of `epoch` (deterministic in seed, epoch and index).
  std::vector<TrainSample> BatchSamples(int64_t epoch, int64_t index);

  // Validation of the current weights on the held-out tokens.
  absl::StatusOr<ValidationMetrics> Validate();

  MemoryIndexer& indexer() { return *indexer_; }
  const TrainState& state() const { return state_; }
  const FeatureStore& store() const { return *store_; }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t total_steps() const { return steps_per_epoch_ * options_.epochs; }
  int64_t n_train_tokens() const { return static_cast<int64_t>(train_tokens_.size()); }
  int64_t n_val_tokens() const { return static_cast<int64_t>(val_tokens_.size()); }
  // Samples per second over the optimizer steps of the last Run.
  double samples_per_second() const { return samples_per_second_; }
  // Label-file bytes read per optimizer step (token records and key-row blocks), averaged over
  // the steps run by this trainer (validation's reads excluded).
  double bytes_read_per_step() const {
    return steps_run_ > 0 ? static_cast<double>(step_bytes_read_) / static_cast<double>(steps_run_)
                          : 0;
  }

 private:
  IndexerTrainer(std::unique_ptr<MemoryIndexer> indexer, const TrainCorpus* corpus,
                 const TrainOptions& options, std::filesystem::path out_dir);
  std::map<std::string, std::string> Fingerprint() const;
  absl::StatusOr<StepStats> OptimizerStep(absl::Span<const TrainSample> samples);
  absl::Status RecordValidation(int64_t epoch, double train_loss, double seconds,
                                double samples_per_s, const Logger& log, const EpochHook& on_epoch);

  std::unique_ptr<MemoryIndexer> indexer_;
  const TrainCorpus* corpus_;
  std::unique_ptr<FeatureStore> store_;
  TrainOptions options_;
  std::filesystem::path out_dir_;
  std::vector<TokenRef> train_tokens_, val_tokens_;
  int64_t steps_per_epoch_ = 0;
  TrainState state_;
  double samples_per_second_ = 0;
  int64_t step_bytes_read_ = 0, steps_run_ = 0;
  std::vector<RetrieverGrads> grads_;
  // Scratch of LossAndGrads.
  std::vector<IndexerQueryBatch> act_;
  std::vector<TokenRef> tokens_;
  std::vector<float> batch_hidden_, h_;      // [B][n_targets][d], one target's [B][d]
  std::vector<std::vector<float>> dq_, dw_;  // per target
  std::vector<int64_t> pos_;
};

}  // namespace fm::rt::train
