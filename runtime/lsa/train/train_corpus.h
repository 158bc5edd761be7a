#pragma once
// The training corpus in memory: every label file's golden sets (as DocumentLabels), the target
// layers' hidden states per decode token and their index keys over all chunks. Label files come
// from `flashmem label` (runtime/lsa/labels/label_file.h); all documents must name the same target
// layers and shapes, and those must match the model the indexer is initialised from.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/config/model_config.h"
#include "runtime/lsa/labels/label_file.h"
#include "runtime/lsa/train/sampling.h"

namespace fm::rt::train {

struct TrainDocument {
  std::string name;                      // file name, for messages
  DocumentLabels labels;
  std::vector<float> hidden;             // [T][n_targets][hidden_size]
  std::vector<std::vector<float>> keys;  // [target][n_chunks][index_head_dim]

  const float* token_hidden(int64_t t, int64_t target, int64_t n_targets, int64_t d) const {
    return hidden.data() + (t * n_targets + target) * d;
  }
};

struct TrainCorpus {
  std::vector<labels::LabelTarget> targets;
  int64_t hidden_size = 0, index_head_dim = 0, tokens_per_chunk = 4;
  std::vector<TrainDocument> documents;

  int64_t n_targets() const { return static_cast<int64_t>(targets.size()); }
  std::vector<int64_t> csa_indices() const;
  int64_t n_tokens() const;
};

// Loads `inputs` (label files, or directories of them) fully into memory, checking every record.
// Errors name the file and what disagrees (targets, shapes, model config).
absl::StatusOr<TrainCorpus> LoadTrainCorpus(const std::vector<std::filesystem::path>& inputs,
                                            const ModelConfig& config, double trivial_fraction);

// Appends one document read from `reader` (used by LoadTrainCorpus, and by tests that build a
// corpus from files they wrote).
absl::Status AppendDocument(const labels::LabelFileReader& reader, const ModelConfig& config,
                            double trivial_fraction, TrainCorpus* corpus);

}  // namespace fm::rt::train
