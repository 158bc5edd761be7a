#include "runtime/lsa/train/train_corpus.h"

#include <algorithm>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/lsa/memory_indexer.h"

namespace fm::rt::train {

std::vector<int64_t> TrainCorpus::csa_indices() const {
  std::vector<int64_t> out;
  for (const labels::LabelTarget& t : targets) out.push_back(t.csa_index);
  return out;
}

int64_t TrainCorpus::n_tokens() const {
  int64_t n = 0;
  for (const TrainDocument& d : documents) n += d.labels.n_tokens();
  return n;
}

int64_t TrainCorpus::feature_bytes() const {
  int64_t n = 0;
  for (const TrainDocument& d : documents) {
    n += d.labels.n_tokens() * n_targets() * hidden_size +
         n_targets() * d.labels.n_chunks * index_head_dim;
  }
  return n * static_cast<int64_t>(sizeof(float));
}

int64_t TrainCorpus::label_bytes() const {
  int64_t n = 0;
  for (const TrainDocument& d : documents) {
    const DocumentLabels& l = d.labels;
    n += static_cast<int64_t>(sizeof(int64_t) *
                                  (l.positions.size() + l.visible.size() + l.ptr.size()) +
                              sizeof(int32_t) * l.chunks.size() + l.trivial.size());
  }
  return n;
}

absl::Status AppendDocument(const labels::LabelFileReader& reader, const ModelConfig& config,
                            double trivial_fraction, CorpusStorage storage, TrainCorpus* corpus) {
  const labels::LabelFileHeader& h = reader.header();
  const std::string name = reader.path().string();
  if (h.hidden_size != config.hidden_size || h.index_head_dim != config.index_head_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": hidden_size ", h.hidden_size, " / index_head_dim ", h.index_head_dim,
        " do not match the model (", config.hidden_size, " / ", config.index_head_dim, ")"));
  }
  if (h.targets.empty())
    return absl::InvalidArgumentError(absl::StrCat(name, ": no target layers"));
  const std::vector<int64_t> csa_layers = CsaModelLayers(config);
  for (const labels::LabelTarget& t : h.targets) {
    if (t.csa_index < 0 || t.csa_index >= static_cast<int64_t>(csa_layers.size()) ||
        csa_layers[static_cast<size_t>(t.csa_index)] != t.model_layer) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": target CSA index ", t.csa_index, " (model layer ", t.model_layer,
                       ") is not a CSA layer of the model (", csa_layers.size(), " CSA layers)"));
    }
  }
  if (h.tokens_per_chunk <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": tokens_per_chunk ", h.tokens_per_chunk, ", expected > 0"));
  }
  if (corpus->documents.empty()) {
    corpus->targets = h.targets;
    corpus->hidden_size = h.hidden_size;
    corpus->index_head_dim = h.index_head_dim;
    corpus->tokens_per_chunk = h.tokens_per_chunk;
  } else {
    bool same = corpus->targets.size() == h.targets.size() &&
                corpus->tokens_per_chunk == h.tokens_per_chunk;
    for (size_t i = 0; same && i < h.targets.size(); ++i) {
      same = corpus->targets[i].csa_index == h.targets[i].csa_index;
    }
    if (!same) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": target layers or tokens_per_chunk differ from ", corpus->documents.front().name,
          " (all documents must label the same layers)"));
    }
  }
  const int64_t T = reader.n_tokens(), nt = static_cast<int64_t>(h.targets.size());
  const int64_t d = h.hidden_size, n_chunks = reader.counts().n_chunks;
  const bool in_memory = storage == CorpusStorage::kInMemory;
  TrainDocument doc;
  doc.name = name;
  doc.streamed = !in_memory;
  doc.path = reader.path();
  doc.file_bytes = reader.file_bytes();
  doc.labels.n_chunks = n_chunks;
  doc.labels.ptr.push_back(0);
  doc.labels.positions.reserve(static_cast<size_t>(T));
  doc.labels.visible.reserve(static_cast<size_t>(T));
  if (in_memory) doc.hidden.resize(static_cast<size_t>(T * nt * d));
  labels::TokenRecord rec;
  for (int64_t t = 0; t < T; ++t) {
    if (in_memory) {
      FM_RETURN_IF_ERROR(reader.ReadToken(t, &rec));
      if (static_cast<int64_t>(rec.hidden.size()) != nt * d) {
        return absl::DataLossError(absl::StrCat(name, ": token ", t, " holds ", rec.hidden.size(),
                                                " hidden values; expected ", nt * d));
      }
      std::copy(rec.hidden.begin(), rec.hidden.end(), doc.hidden.begin() + t * nt * d);
    } else {
      // One pass over the label parts only: the hidden states stay in the file.
      FM_RETURN_IF_ERROR(reader.ReadLabels(t, &rec));
    }
    const int64_t visible = std::min(n_chunks, (rec.position + 1) / h.tokens_per_chunk);
    doc.labels.positions.push_back(rec.position);
    doc.labels.visible.push_back(visible);
    for (const labels::GoldenChunk& g : rec.labels) {
      if (g.chunk < 0 || g.chunk >= n_chunks) {
        return absl::DataLossError(absl::StrCat(name, ": token ", t, " labels chunk ", g.chunk,
                                                "; the file stores ", n_chunks, " chunks"));
      }
      doc.labels.chunks.push_back(g.chunk);
    }
    doc.labels.ptr.push_back(static_cast<int64_t>(doc.labels.chunks.size()));
  }
  for (int64_t t = 0; in_memory && t < nt; ++t) {
    FM_ASSIGN_OR_RETURN(std::vector<float> keys, reader.ReadIndexKeys(t));
    if (static_cast<int64_t>(keys.size()) != n_chunks * h.index_head_dim) {
      return absl::DataLossError(absl::StrCat(name, ": target ", t, " holds ", keys.size(),
                                              " key values; expected ",
                                              n_chunks * h.index_head_dim));
    }
    doc.keys.push_back(std::move(keys));
  }
  MarkTrivialChunks(&doc.labels, trivial_fraction);
  corpus->documents.push_back(std::move(doc));
  return absl::OkStatus();
}

absl::StatusOr<TrainCorpus> LoadTrainCorpus(const std::vector<std::filesystem::path>& inputs,
                                            const ModelConfig& config, double trivial_fraction,
                                            CorpusStorage storage) {
  std::vector<std::filesystem::path> files;
  for (const std::filesystem::path& in : inputs) {
    std::error_code ec;
    if (std::filesystem::is_directory(in, ec)) {
      FM_ASSIGN_OR_RETURN(std::vector<std::filesystem::path> listed, labels::ListLabelFiles(in));
      files.insert(files.end(), listed.begin(), listed.end());
    } else {
      files.push_back(in);
    }
  }
  if (files.empty()) return absl::InvalidArgumentError("train-indexer: no label files given");
  TrainCorpus corpus;
  for (const std::filesystem::path& f : files) {
    FM_ASSIGN_OR_RETURN(std::unique_ptr<labels::LabelFileReader> reader,
                        labels::LabelFileReader::Open(f));
    FM_RETURN_IF_ERROR(AppendDocument(*reader, config, trivial_fraction, storage, &corpus));
  }
  if (corpus.n_tokens() == 0) {
    return absl::InvalidArgumentError("train-indexer: the label files hold no decode tokens");
  }
  return corpus;
}

}  // namespace fm::rt::train
