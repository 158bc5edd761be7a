#pragma once
// The training corpus: every label file's golden sets (as DocumentLabels) and positions, and where
// the target layers' hidden states per decode token and their index keys over all chunks live.
// Streamed documents (LoadTrainCorpus's default) keep only the label side in memory (about 8 B
// per golden chunk and 16 B per token); FeatureStore (feature_store.h) reads their hidden states
// and keys from the label file on demand. In-memory documents hold both (tests, --in-memory; ~4 B
// x n_targets x hidden_size per token). Label files come from `flashmem label`
// (runtime/lsa/labels/label_file.h); all documents must name the same target layers and shapes,
// and those must match the model the indexer is initialised from.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/config/model_config.h"
#include "runtime/lsa/labels/label_file.h"
#include "runtime/lsa/train/sampling.h"

namespace fm::rt::train {

// One decode token of one document of the corpus.
struct TokenRef {
  int32_t doc = 0;
  int64_t token = 0;
};

enum class CorpusStorage {
  kStreamed,  // labels in memory, hidden states and keys read from the files when needed
  kInMemory,  // everything in memory (bounded by RAM: ~130 KB per token at 8 x 4096 fp32)
};

struct TrainDocument {
  std::string name;  // file name, for messages
  DocumentLabels labels;
  // In memory only (empty when streamed):
  std::vector<float> hidden;             // [T][n_targets][hidden_size]
  std::vector<std::vector<float>> keys;  // [target][n_chunks][index_head_dim]
  // Streamed only: the label file and its size when loaded (a file replaced during training is
  // refused rather than read).
  bool streamed = false;
  std::filesystem::path path;
  int64_t file_bytes = 0;

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
  // Bytes the hidden states and keys of every document take in memory (what kInMemory holds).
  int64_t feature_bytes() const;
  // Bytes of the label side held in memory for every document.
  int64_t label_bytes() const;
};

// Loads `inputs` (label files, or directories of them): the labels of every record (label CRCs
// checked), and with kInMemory the hidden states and keys too (every CRC checked). Errors name
// the file and what disagrees (targets, shapes, model config).
absl::StatusOr<TrainCorpus> LoadTrainCorpus(const std::vector<std::filesystem::path>& inputs,
                                            const ModelConfig& config, double trivial_fraction,
                                            CorpusStorage storage = CorpusStorage::kStreamed);

// Appends one document read from `reader` (used by LoadTrainCorpus, and by tests that build a
// corpus from files they wrote).
absl::Status AppendDocument(const labels::LabelFileReader& reader, const ModelConfig& config,
                            double trivial_fraction, CorpusStorage storage, TrainCorpus* corpus);

}  // namespace fm::rt::train
