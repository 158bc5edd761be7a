#pragma once
// Training checkpoints in an output directory:
//   indexer.safetensors      the retriever weights under exactly the names the runtime loads
//                            (MemoryIndexer::FromSafetensors): retrievers.l{c}.wq_a,
//                            retrievers.l{c}.q_norm_weight, retrievers.l{c}.wq_b,
//                            retrievers.l{c}.weights_proj.weight, F32;
//   train_state.safetensors  AdamW moments (adam_m.<name>, adam_v.<name>) and, as metadata, the
//                            step counter, the run's fingerprint (seed, batch, hyper-parameters,
//                            corpus size), the validation history and the best validation so far;
//   best.safetensors         the weights at the best validation ensemble F1 so far (same names and
//                            format as indexer.safetensors), written before the state that
//                            records it.
// Both carry the step in their metadata, so a pair from different steps is rejected. Each file is
// written under a temporary name and renamed, so an interrupted save leaves the previous pair.
// The sampling randomness is derived from (seed, epoch, sample), so (step, seed) is the whole RNG
// state: a resumed run draws the samples an uninterrupted one would.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/lsa/train/indexer_backward.h"

namespace fm::rt::train {

inline constexpr char kIndexerFileName[] = "indexer.safetensors";
inline constexpr char kTrainStateFileName[] = "train_state.safetensors";
inline constexpr char kBestIndexerFileName[] = "best.safetensors";

// "retrievers.l{csa}.{part}".
std::string RetrieverTensorName(int64_t csa_index, const char* part);

// The best validation so far and the early-stopping count (spec §8: best ensemble F1, patience).
struct BestValidation {
  int64_t epoch = -1;  // -1: nothing validated yet
  int64_t step = 0;
  double f1 = 0;
  int64_t since = 0;           // validations since the best one without improvement
  bool early_stopped = false;  // patience ran out

  nlohmann::json ToJson() const;
  // InvalidArgument naming the field on malformed JSON.
  static absl::StatusOr<BestValidation> FromJson(const nlohmann::json& j);
};

struct TrainState {
  int64_t step = 0;           // optimizer steps done
  double epoch_loss_sum = 0;  // training loss summed over the current epoch's steps
  int64_t epoch_loss_steps = 0;
  std::vector<RetrieverGrads> m, v;  // AdamW moments per target, shaped like the weights
  std::map<std::string, std::string> fingerprint;    // must match on resume
  nlohmann::json history = nlohmann::json::array();  // per-epoch reports so far
  BestValidation best;
};

// Writes the indexer's weights alone (what `flashmem run --indexer` loads).
absl::Status WriteIndexerWeights(const MemoryIndexer& indexer, int64_t step,
                                 const std::filesystem::path& path);

// Writes both files into `dir` (created when missing).
absl::Status SaveCheckpoint(const std::filesystem::path& dir, const MemoryIndexer& indexer,
                            const TrainState& state);

// Reads the state of `dir` for `indexer` (already loaded from dir/indexer.safetensors, whose step
// is `weights_step`). Errors name the file and the field: a missing or corrupt file, a tensor of
// the wrong shape, a step that differs from the weights', a fingerprint entry that differs from
// `expected_fingerprint`, a recorded best whose best.safetensors is missing, corrupt or from
// another step (a best file newer than the state is accepted: the resumed run rewrites it).
absl::StatusOr<TrainState> LoadTrainState(
    const std::filesystem::path& dir, const MemoryIndexer& indexer,
    const std::map<std::string, std::string>& expected_fingerprint);

// The step recorded in an indexer file written by WriteIndexerWeights.
absl::StatusOr<int64_t> IndexerFileStep(const std::filesystem::path& path);

}  // namespace fm::rt::train
