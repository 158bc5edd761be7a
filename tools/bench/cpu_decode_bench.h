#pragma once
// Decode throughput of a real checkpoint on the CPU backend at given context lengths, registered at
// run time by `flashmem bench cpu --model DIR` (the checkpoint is a flag, not a fixture).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fm::bench {

// Loads `model_dir` (fp8 KV) once and registers one benchmark per context, named
// "cpu/decode_ctx<N>": each iteration is one decode step after FillSyntheticContext(N); reports
// tokens/s as items_per_second.
absl::Status RegisterCpuDecodeBenchmarks(const std::string& model_dir,
                                         const std::vector<int64_t>& contexts, int threads);

}  // namespace fm::bench
