#include "runtime/lsa/train/train_checkpoint.h"

#include <cstring>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "runtime/weights/safetensors_file.h"
#include "runtime/weights/safetensors_writer.h"

namespace fm::rt::train {
namespace {

constexpr char kFormatKey[] = "format";
constexpr char kIndexerFormat[] = "flashmem-memory-indexer";
constexpr char kStateFormat[] = "flashmem-indexer-train-state";

std::vector<uint8_t> Bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * sizeof(float));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

// The four tensors of a target: name part, shape, and accessors into weights or moments.
struct Part {
  const char* name;
  std::vector<int64_t> shape;
};

std::vector<Part> Parts(const RetrieverWeights& w, int64_t hidden, int64_t head_dim) {
  return {{"wq_a", {w.rank, hidden}},
          {"q_norm_weight", {w.rank}},
          {"wq_b", {w.n_heads * head_dim, w.rank}},
          {"weights_proj.weight", {w.n_heads, hidden}}};
}

std::vector<float>* Field(RetrieverGrads& g, int i) {
  switch (i) {
    case 0:
      return &g.wq_a;
    case 1:
      return &g.q_norm;
    case 2:
      return &g.wq_b;
    default:
      return &g.weights_proj;
  }
}

const std::vector<float>& Field(const RetrieverGrads& g, int i) {
  switch (i) {
    case 0:
      return g.wq_a;
    case 1:
      return g.q_norm;
    case 2:
      return g.wq_b;
    default:
      return g.weights_proj;
  }
}

const std::vector<float>& Field(const RetrieverWeights& w, int i) {
  switch (i) {
    case 0:
      return w.wq_a;
    case 1:
      return w.q_norm;
    case 2:
      return w.wq_b;
    default:
      return w.weights_proj;
  }
}

// Writes `writer` to path + ".tmp" and renames it over `path`.
absl::Status WriteAtomically(const SafetensorsWriter& writer, const std::filesystem::path& path) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  FM_RETURN_IF_ERROR(writer.WriteFile(tmp));
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot rename ", tmp.string(), " to ", path.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> MetadataInt(const SafetensorsFile& f, const std::string& key) {
  auto it = f.metadata().find(key);
  int64_t v = 0;
  if (it == f.metadata().end() || !absl::SimpleAtoi(it->second, &v) || v < 0) {
    return absl::DataLossError(absl::StrCat(
        f.display_name(), ": metadata '", key, "' is ",
        it == f.metadata().end() ? std::string("missing") : "'" + it->second + "'",
        "; expected a non-negative integer (not a flashmem train-indexer checkpoint?)"));
  }
  return v;
}

absl::Status CheckFormat(const SafetensorsFile& f, const char* format) {
  auto it = f.metadata().find(kFormatKey);
  if (it == f.metadata().end() || it->second != format) {
    return absl::DataLossError(absl::StrCat(f.display_name(), ": metadata 'format' is ",
                                            it == f.metadata().end() ? "missing" : it->second,
                                            "; expected ", format));
  }
  return absl::OkStatus();
}

}  // namespace

nlohmann::json BestValidation::ToJson() const {
  return {{"epoch", epoch},
          {"step", step},
          {"ensemble_f1", f1},
          {"validations_since", since},
          {"early_stopped", early_stopped}};
}

absl::StatusOr<BestValidation> BestValidation::FromJson(const nlohmann::json& j) {
  BestValidation b;
  auto field = [&](const char* k) -> absl::StatusOr<const nlohmann::json*> {
    if (!j.is_object() || !j.contains(k)) {
      return absl::InvalidArgumentError(absl::StrCat("best: field '", k, "' is missing"));
    }
    return &j.at(k);
  };
  FM_ASSIGN_OR_RETURN(const nlohmann::json* e, field("epoch"));
  FM_ASSIGN_OR_RETURN(const nlohmann::json* s, field("step"));
  FM_ASSIGN_OR_RETURN(const nlohmann::json* f, field("ensemble_f1"));
  FM_ASSIGN_OR_RETURN(const nlohmann::json* n, field("validations_since"));
  FM_ASSIGN_OR_RETURN(const nlohmann::json* x, field("early_stopped"));
  if (!e->is_number_integer() || !s->is_number_integer() || !f->is_number() ||
      !n->is_number_integer() || !x->is_boolean() || e->get<int64_t>() < -1 ||
      s->get<int64_t>() < 0 || n->get<int64_t>() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("best: malformed ", j.dump()));
  }
  b.epoch = e->get<int64_t>();
  b.step = s->get<int64_t>();
  b.f1 = f->get<double>();
  b.since = n->get<int64_t>();
  b.early_stopped = x->get<bool>();
  return b;
}

std::string RetrieverTensorName(int64_t csa_index, const char* part) {
  return absl::StrCat("retrievers.l", csa_index, ".", part);
}

absl::Status WriteIndexerWeights(const MemoryIndexer& indexer, int64_t step,
                                 const std::filesystem::path& path) {
  SafetensorsWriter w;
  const ModelConfig& c = indexer.config();
  for (int64_t t = 0; t < indexer.n_targets(); ++t) {
    const RetrieverWeights& rw = indexer.target(t);
    const std::vector<Part> parts = Parts(rw, c.hidden_size, c.index_head_dim);
    for (int i = 0; i < 4; ++i) {
      w.Add(RetrieverTensorName(rw.csa_index, parts[static_cast<size_t>(i)].name), DType::kF32,
            parts[static_cast<size_t>(i)].shape, Bytes(Field(rw, i)));
    }
  }
  w.SetMetadata(kFormatKey, kIndexerFormat);
  w.SetMetadata("step", std::to_string(step));
  return WriteAtomically(w, path);
}

absl::Status SaveCheckpoint(const std::filesystem::path& dir, const MemoryIndexer& indexer,
                            const TrainState& state) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  }
  SafetensorsWriter w;
  const ModelConfig& c = indexer.config();
  for (int64_t t = 0; t < indexer.n_targets(); ++t) {
    const RetrieverWeights& rw = indexer.target(t);
    const std::vector<Part> parts = Parts(rw, c.hidden_size, c.index_head_dim);
    const RetrieverGrads& m = state.m[static_cast<size_t>(t)];
    const RetrieverGrads& v = state.v[static_cast<size_t>(t)];
    for (int i = 0; i < 4; ++i) {
      const std::string name =
          RetrieverTensorName(rw.csa_index, parts[static_cast<size_t>(i)].name);
      w.Add("adam_m." + name, DType::kF32, parts[static_cast<size_t>(i)].shape, Bytes(Field(m, i)));
      w.Add("adam_v." + name, DType::kF32, parts[static_cast<size_t>(i)].shape, Bytes(Field(v, i)));
    }
  }
  w.SetMetadata(kFormatKey, kStateFormat);
  w.SetMetadata("step", std::to_string(state.step));
  w.SetMetadata("history", state.history.dump());
  w.SetMetadata("epoch_loss_sum", absl::StrFormat("%.17g", state.epoch_loss_sum));
  w.SetMetadata("epoch_loss_steps", std::to_string(state.epoch_loss_steps));
  w.SetMetadata("best", state.best.ToJson().dump());
  for (const auto& [k, v] : state.fingerprint) w.SetMetadata("run." + k, v);
  // State first: a crash between the two renames leaves a step mismatch, which resume reports.
  FM_RETURN_IF_ERROR(WriteAtomically(w, dir / kTrainStateFileName));
  return WriteIndexerWeights(indexer, state.step, dir / kIndexerFileName);
}

absl::StatusOr<int64_t> IndexerFileStep(const std::filesystem::path& path) {
  FM_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> f,
                      SafetensorsFile::Open(path, path.string()));
  FM_RETURN_IF_ERROR(CheckFormat(*f, kIndexerFormat));
  return MetadataInt(*f, "step");
}

absl::StatusOr<TrainState> LoadTrainState(
    const std::filesystem::path& dir, const MemoryIndexer& indexer,
    const std::map<std::string, std::string>& expected_fingerprint) {
  const std::filesystem::path path = dir / kTrainStateFileName;
  FM_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> f,
                      SafetensorsFile::Open(path, path.string()));
  FM_RETURN_IF_ERROR(CheckFormat(*f, kStateFormat));
  TrainState s;
  FM_ASSIGN_OR_RETURN(s.step, MetadataInt(*f, "step"));
  FM_ASSIGN_OR_RETURN(s.epoch_loss_steps, MetadataInt(*f, "epoch_loss_steps"));
  auto loss = f->metadata().find("epoch_loss_sum");
  if (loss == f->metadata().end() || !absl::SimpleAtod(loss->second, &s.epoch_loss_sum)) {
    return absl::DataLossError(
        absl::StrCat(path.string(), ": metadata 'epoch_loss_sum' is missing or not a number"));
  }
  FM_ASSIGN_OR_RETURN(const int64_t weights_step, IndexerFileStep(dir / kIndexerFileName));
  if (weights_step != s.step) {
    return absl::DataLossError(absl::StrCat(path.string(), ": step ", s.step, " but ",
                                            (dir / kIndexerFileName).string(), " is at step ",
                                            weights_step, " (an interrupted save?)"));
  }
  for (const auto& [k, want] : expected_fingerprint) {
    auto it = f->metadata().find("run." + k);
    const std::string found = it == f->metadata().end() ? "(missing)" : it->second;
    if (found != want) {
      return absl::InvalidArgumentError(
          absl::StrCat(path.string(), ": the checkpoint was made with ", k, "=", found,
                       "; this run has ", k, "=", want, " (resume needs the same settings)"));
    }
  }
  s.fingerprint = expected_fingerprint;
  auto hist = f->metadata().find("history");
  if (hist != f->metadata().end()) {
    s.history = nlohmann::json::parse(hist->second, nullptr, false);
    if (s.history.is_discarded() || !s.history.is_array()) {
      return absl::DataLossError(
          absl::StrCat(path.string(), ": metadata 'history' is not a JSON array"));
    }
  }
  // The best so far (absent in states written before best checkpoints existed: none recorded).
  if (auto best = f->metadata().find("best"); best != f->metadata().end()) {
    const nlohmann::json j = nlohmann::json::parse(best->second, nullptr, false);
    absl::StatusOr<BestValidation> b = BestValidation::FromJson(j);
    if (!b.ok()) {
      return absl::DataLossError(absl::StrCat(path.string(), ": metadata ", b.status().message()));
    }
    s.best = *b;
    if (s.best.epoch >= 0) {
      const std::filesystem::path best_path = dir / kBestIndexerFileName;
      absl::StatusOr<int64_t> best_step = IndexerFileStep(best_path);
      if (!best_step.ok()) {
        return absl::DataLossError(absl::StrCat(path.string(), " records the best weights at step ",
                                                s.best.step, ": ", best_step.status().message()));
      }
      if (*best_step != s.best.step && *best_step <= s.step) {
        return absl::DataLossError(absl::StrCat(best_path.string(), ": step ", *best_step, " but ",
                                                path.string(), " records the best at step ",
                                                s.best.step));
      }
    }
  }
  const ModelConfig& c = indexer.config();
  for (int64_t t = 0; t < indexer.n_targets(); ++t) {
    const RetrieverWeights& rw = indexer.target(t);
    const std::vector<Part> parts = Parts(rw, c.hidden_size, c.index_head_dim);
    RetrieverGrads m, v;
    for (int i = 0; i < 4; ++i) {
      const std::string name =
          RetrieverTensorName(rw.csa_index, parts[static_cast<size_t>(i)].name);
      for (const char* prefix : {"adam_m.", "adam_v."}) {
        const std::string full = prefix + name;
        const TensorRef* ref = f->Find(full);
        if (ref == nullptr || ref->dtype != DType::kF32 ||
            ref->shape != parts[static_cast<size_t>(i)].shape) {
          return absl::DataLossError(
              absl::StrCat(path.string(), ": tensor '", full, "' is ",
                           ref == nullptr ? "missing" : "of the wrong dtype or shape",
                           "; expected F32 of the weights' shape"));
        }
        std::vector<float>* dst = Field(prefix[5] == 'm' ? m : v, i);
        dst->resize(static_cast<size_t>(ref->numel()));
        std::memcpy(dst->data(), ref->data, dst->size() * sizeof(float));
      }
    }
    s.m.push_back(std::move(m));
    s.v.push_back(std::move(v));
  }
  return s;
}

}  // namespace fm::rt::train
