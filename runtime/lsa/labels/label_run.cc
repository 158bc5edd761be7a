#include "runtime/lsa/labels/label_run.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_macros.h"
#include "runtime/lsa/labels/golden_set.h"
#include "runtime/lsa/memory_indexer.h"

namespace fm::rt::labels {
namespace {

constexpr int64_t kKeyBlockChunks = 1024;  // index keys copied per block (bounded memory)

// Greedy: the first index of the largest logit.
int32_t Argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

}  // namespace

absl::StatusOr<LabelRunSummary> RunLabelDocument(const Model& model,
                                                 absl::Span<const int32_t> prompt,
                                                 const LabelRunOptions& options,
                                                 const std::filesystem::path& out) {
  const ModelConfig& config = model.config();
  FM_RETURN_IF_ERROR(ValidateLabelConstants(options.constants));
  const std::vector<int64_t> csa_layers = CsaModelLayers(config);
  if (csa_layers.empty()) return absl::InvalidArgumentError("label: the model has no CSA layer");
  const std::vector<int64_t> target_csa = options.target_csa_indices.empty()
                                              ? DefaultTargetCsaIndices(config)
                                              : options.target_csa_indices;
  LabelFileHeader header;
  header.hidden_size = config.hidden_size;
  header.index_head_dim = config.index_head_dim;
  header.index_n_heads = config.index_n_heads;
  header.tokens_per_chunk = 4;  // the CSA ratio (ModelConfig::is_csa)
  header.n_csa_layers = static_cast<int64_t>(csa_layers.size());
  header.constants = options.constants;
  header.hidden_dtype = options.hidden_dtype;
  header.key_block_rows = options.key_block_rows;
  header.n_prompt_tokens = static_cast<int64_t>(prompt.size());
  header.source = options.source.substr(0, 4096);
  std::vector<int64_t> target_layers;
  for (int64_t c : target_csa) {
    if (c < 0 || c >= header.n_csa_layers) {
      return absl::InvalidArgumentError(absl::StrCat("label: target CSA index ", c,
                                                     " is not in [0, ", header.n_csa_layers,
                                                     ") (the model's CSA layers)"));
    }
    if (std::find(target_layers.begin(), target_layers.end(), csa_layers[static_cast<size_t>(c)]) !=
        target_layers.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("label: target CSA index ", c, " given twice"));
    }
    target_layers.push_back(csa_layers[static_cast<size_t>(c)]);
    header.targets.push_back({c, csa_layers[static_cast<size_t>(c)]});
  }
  if (prompt.empty()) return absl::InvalidArgumentError("label: empty prompt");
  if (options.n_decode < 0 ||
      static_cast<int64_t>(prompt.size()) + options.n_decode > config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat(
        "label: ", prompt.size(), " prompt + ", options.n_decode,
        " decode tokens exceed max_position_embeddings ", config.max_position_embeddings));
  }

  const int64_t t0 = MonotonicNs();
  FM_ASSIGN_OR_RETURN(std::unique_ptr<LabelFileWriter> writer,
                      LabelFileWriter::Create(out, header));
  std::unique_ptr<Sequence> seq = model.NewSequence();
  FM_RETURN_IF_ERROR(seq->SetHiddenCapture(target_layers));
  std::vector<float> logits(static_cast<size_t>(config.vocab_size));
  const size_t n = prompt.size();
  if (n > 1)
    FM_RETURN_IF_ERROR(seq->Prefill(prompt.subspan(0, n - 1), options.prefill_chunk, nullptr));
  FM_RETURN_IF_ERROR(seq->Prefill(prompt.subspan(n - 1), 1, logits.data()));
  // Tracing only for the decode steps: each step's trace is that token's full logits rows.
  seq->SetIndexerTracing(true);

  LabelRunSummary summary;
  summary.n_prompt_tokens = static_cast<int64_t>(n);
  GoldenVoter voter(options.constants);
  std::vector<absl::Span<const float>> hidden(target_layers.size());
  for (int64_t i = 0; i < options.n_decode; ++i) {
    const int32_t token = Argmax(logits);
    if (options.stop_at_eos && token == config.eos_token_id) break;
    const int64_t position = seq->length();
    FM_RETURN_IF_ERROR(seq->Decode(token, logits.data()));
    summary.generated.push_back(token);
    voter.Reset((position + 1) / header.tokens_per_chunk);
    for (int64_t layer : csa_layers) {
      FM_ASSIGN_OR_RETURN(const IndexerTrace* trace, seq->LastIndexerTrace(layer));
      if (trace->position != position) {
        return absl::InternalError(absl::StrCat("label: layer ", layer, " traced position ",
                                                trace->position, ", expected ", position));
      }
      absl::Status s = voter.AddLayer(trace->scores);
      if (!s.ok())
        return absl::InternalError(
            absl::StrCat("label: layer ", layer, " position ", position, ": ", s.message()));
    }
    for (size_t t = 0; t < target_layers.size(); ++t) {
      FM_ASSIGN_OR_RETURN(hidden[t], seq->CapturedHidden(target_layers[t]));
    }
    const std::vector<GoldenChunk> golden = voter.Golden();
    FM_RETURN_IF_ERROR(writer->AppendToken(position, token, hidden, golden));
    if (options.progress) options.progress(i + 1, options.n_decode);
  }

  // Index keys of prompt + response, one block at a time.
  std::vector<float> keys;
  const int64_t n_chunks = seq->IndexKeyCount(target_layers[0]);
  for (size_t t = 0; t < target_layers.size(); ++t) {
    if (seq->IndexKeyCount(target_layers[t]) != n_chunks) {
      return absl::InternalError(absl::StrCat(
          "label: layer ", target_layers[t], " holds ", seq->IndexKeyCount(target_layers[t]),
          " index keys, layer ", target_layers[0], " holds ", n_chunks));
    }
    for (int64_t first = 0; first < n_chunks; first += kKeyBlockChunks) {
      const int64_t count = std::min(kKeyBlockChunks, n_chunks - first);
      keys.resize(static_cast<size_t>(count * config.index_head_dim));
      FM_RETURN_IF_ERROR(seq->IndexKeys(target_layers[t], first, count, keys.data()));
      FM_RETURN_IF_ERROR(writer->AppendIndexKeys(static_cast<int64_t>(t), keys.data(), count));
    }
  }
  FM_RETURN_IF_ERROR(writer->Finish());
  summary.counts = writer->counts();
  summary.bytes_written = writer->bytes_written();
  summary.mean_golden = summary.counts.n_tokens > 0
                            ? static_cast<double>(summary.counts.n_labels) /
                                  static_cast<double>(summary.counts.n_tokens)
                            : 0.0;
  summary.seconds = static_cast<double>(MonotonicNs() - t0) * 1e-9;
  return summary;
}

}  // namespace fm::rt::labels
