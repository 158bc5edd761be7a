#include "tools/cli/util_model_flags.h"

#include <cstdio>

namespace fm::cli {

int LoadModelFromFlags(const std::string& command, const std::string& model_dir,
                       const std::string& kv, int threads, std::unique_ptr<rt::Model>* model) {
  rt::ModelOptions options;
  options.n_threads = threads;
  if (kv == "fp32") {
    options.kv_mode = rt::KvMode::kFp32;
  } else if (kv == "fp8") {
    options.kv_mode = rt::KvMode::kFp8;
  } else {
    std::fprintf(stderr, "flashmem %s: --kv=%s: expected fp32 or fp8\n", command.c_str(), kv.c_str());
    return 2;
  }
  auto loaded = rt::Model::Load(model_dir, options);
  if (!loaded.ok()) {
    std::fprintf(stderr, "flashmem %s: %s\n", command.c_str(), loaded.status().ToString().c_str());
    return 1;
  }
  *model = std::move(loaded).value();
  return 0;
}

int CheckTokensInVocab(const std::string& command, const std::string& flag,
                       const std::vector<int32_t>& tokens, int64_t vocab) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] >= vocab) {
      std::fprintf(stderr,
                   "flashmem %s: %s: token id %d at index %zu is out of range [0, vocab_size=%lld)\n",
                   command.c_str(), flag.c_str(), tokens[i], i, static_cast<long long>(vocab));
      return 2;
    }
  }
  return 0;
}

}  // namespace fm::cli
