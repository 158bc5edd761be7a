#pragma once
// One document's label run (what `flashmem label` does, V4_FLASH_LSA.md §7): a full-attention
// prefill of the prompt, then greedy decoding with Level-2 tracing and hidden capture on; after
// each decode step the golden set of that token is computed from every CSA layer's native indexer
// logits and streamed to the label file with the target layers' h. At the end the index keys of
// every target over all chunks of prompt + response are appended (the reference needs a second
// prefill for them; the sequence already holds them here).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/lsa/labels/label_file.h"
#include "runtime/model/model.h"

namespace fm::rt::labels {

struct LabelRunOptions {
  std::vector<int64_t> target_csa_indices;  // empty: DefaultTargetCsaIndices(config)
  LabelConstants constants;
  HiddenDtype hidden_dtype = HiddenDtype::kF32;
  int64_t key_block_rows = kDefaultKeyBlockRows;  // index-key rows per CRC block
  int64_t n_decode = 0;       // decode tokens (records); fewer when the model emits EOS
  bool stop_at_eos = true;    // stop before feeding a generated EOS token back
  int64_t prefill_chunk = 0;  // Sequence::Prefill chunk size (<= 0: one chunk)
  std::string source;         // stored in the header
  // Called after each decode token (done, total); for a progress bar.
  std::function<void(int64_t, int64_t)> progress;
};

struct LabelRunSummary {
  LabelFileCounts counts;
  int64_t n_prompt_tokens = 0;
  int64_t bytes_written = 0;
  std::vector<int32_t> generated;  // the decoded tokens, in order (one per record)
  double mean_golden = 0;          // golden chunks per token
  double seconds = 0;              // wall time of prefill + decode + writing
};

// Writes `out`. InvalidArgument for a bad option (a target that is not a CSA index, constants out
// of range, an empty prompt, a prompt + decode longer than max_position_embeddings); other errors
// come from the model or the writer and name the path.
absl::StatusOr<LabelRunSummary> RunLabelDocument(const Model& model,
                                                 absl::Span<const int32_t> prompt,
                                                 const LabelRunOptions& options,
                                                 const std::filesystem::path& out);

}  // namespace fm::rt::labels
