#include "tools/bench/cpu_decode_bench.h"

#include <memory>

#include <benchmark/benchmark.h>

#include "absl/strings/str_cat.h"
#include "runtime/model/model.h"

namespace fm::bench {
namespace {

// Owned for the process lifetime: Google Benchmark calls registered lambdas after registration.
std::unique_ptr<rt::Model>& LoadedModel() {
  static std::unique_ptr<rt::Model> model;
  return model;
}

void DecodeAtContext(benchmark::State& state, int64_t context) {
  rt::Model& model = *LoadedModel();
  auto seq = model.NewSequence();
  if (absl::Status s = seq->FillSyntheticContext(context, 1); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  std::vector<float> logits(static_cast<size_t>(model.config().vocab_size));
  int32_t token = 2;
  // One untimed step first: it faults in the mapped weights (gigabytes for a flash-slice).
  if (absl::Status s = seq->Decode(token, logits.data()); !s.ok()) {
    state.SkipWithError(std::string(s.message()).c_str());
    return;
  }
  for (auto _ : state) {
    if (absl::Status s = seq->Decode(token, logits.data()); !s.ok()) {
      state.SkipWithError(std::string(s.message()).c_str());
      return;
    }
    token = static_cast<int32_t>(2 + (token * 7919) % (model.config().vocab_size - 2));
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["context_tokens"] = static_cast<double>(context);
}

}  // namespace

absl::Status RegisterCpuDecodeBenchmarks(const std::string& model_dir,
                                         const std::vector<int64_t>& contexts, int threads) {
  rt::ModelOptions options;
  options.kv_mode = rt::KvMode::kFp8;
  options.n_threads = threads;
  auto model = rt::Model::Load(model_dir, options);
  if (!model.ok()) return model.status();
  LoadedModel() = std::move(model).value();
  for (int64_t context : contexts) {
    benchmark::RegisterBenchmark(absl::StrCat("cpu/decode_ctx", context).c_str(),
                                 [context](benchmark::State& s) { DecodeAtContext(s, context); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  return absl::OkStatus();
}

}  // namespace fm::bench
