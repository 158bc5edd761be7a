#pragma once
// The model flags that `logits`, `generate` (and later `run`) share: --model, --kv, --threads, and
// the check that every token id given on the command line fits the model's vocabulary. Each helper
// prints its own error (prefixed "flashmem <command>: ") and returns the exit code to use: 0 on
// success, 1 when the checkpoint fails to load, 2 for bad input.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/model/model.h"

namespace fm::cli {

// Loads `model_dir` with KV mode `kv` ("fp32" or "fp8") and `threads` compute threads.
int LoadModelFromFlags(const std::string& command, const std::string& model_dir,
                       const std::string& kv, int threads, std::unique_ptr<rt::Model>* model);

// Checks every id of `tokens` (from flag `flag`) against [0, vocab).
int CheckTokensInVocab(const std::string& command, const std::string& flag,
                       const std::vector<int32_t>& tokens, int64_t vocab);

}  // namespace fm::cli
