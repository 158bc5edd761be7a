#pragma once
// Synthetic DeepSeek-V4 checkpoints in the release layout (CHECKPOINT_FORMAT.md §3): random but
// well-conditioned weights (activations stay O(1) through the depth), deterministic for a seed.
// Used by tests ("tiny"), the README demo ("small") and GPU sizing runs ("flash-slice").

#include <cstdint>
#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/config/model_config.h"
#include "runtime/weights/safetensors_writer.h"

namespace fm::rt {

struct SynthOptions {
  std::string preset = "tiny";   // "tiny" | "small" | "flash-slice"
  std::string weights = "bf16";  // "bf16": every linear BF16; "fp8": FP8 linears + MXFP4 experts
  int64_t layers = 0;            // flash-slice decoder layers (0 = 2); other presets: must be 0
  uint64_t seed = 1;
  int64_t shards = 1;  // > 1 writes model-0000i-of-0000K + index json
};

// The config.json a preset describes (validated). InvalidArgument for an unknown preset or
// weights value, or `layers` given for a preset that has a fixed depth.
absl::StatusOr<ModelConfig> SynthConfig(const SynthOptions& options);

// Adds every tensor of `config` (weights "bf16" or "fp8") to `writer` with streamed,
// deterministic contents. Exposed so tests can build variants.
absl::Status AddSynthTensors(const ModelConfig& config, const std::string& weights, uint64_t seed,
                             SafetensorsWriter* writer);

// Creates `out_dir` if needed and writes config.json plus the weights. Existing checkpoint files in
// `out_dir` are replaced.
absl::Status WriteSynthCheckpoint(const SynthOptions& options,
                                  const std::filesystem::path& out_dir);

}  // namespace fm::rt
