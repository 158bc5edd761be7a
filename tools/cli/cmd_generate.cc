// `flashmem generate --model DIR --prompt-tokens 1,2,3 --max-new N [--temperature T --top-p P
//  --seed S] [--kv fp32|fp8] [--chunk N] [--threads N]`: prefills the prompt, then decodes up to N
// tokens (stopping after the EOS id), printing the generated ids and prefill / decode tokens per
// second. Temperature 0 is greedy.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "runtime/model/model.h"
#include "runtime/model/sampler.h"
#include "tools/cli/commands.h"
#include "tools/cli/util_model_flags.h"
#include "tools/cli/util_token_list.h"

namespace fm::cli {
namespace {

struct GenerateFlags {
  std::string model, prompt;
  // Numbers are taken as text and parsed here, so a malformed value is a usage error (exit 2).
  std::string max_new, temperature = "0", top_p = "1", seed = "0", kv = "fp8", chunk = "0",
                       threads = "0";
};

int RunGenerate(const GenerateFlags& f) {
  auto bad = [](const char* flag, const std::string& v, const char* expected) {
    std::fprintf(stderr, "flashmem generate: %s=%s: expected %s\n", flag, v.c_str(), expected);
    return 2;
  };
  std::vector<int32_t> prompt;
  if (!ParseTokenList(f.prompt, &prompt)) {
    return bad("--prompt-tokens", f.prompt, "a comma-separated list of non-negative token ids");
  }
  int64_t max_new = 0, chunk = 0;
  int threads = 0;
  rt::SamplerOptions so;
  if (!absl::SimpleAtoi(f.max_new, &max_new) || max_new < 0) {
    return bad("--max-new", f.max_new, "an integer >= 0");
  }
  if (!absl::SimpleAtod(f.temperature, &so.temperature)) {
    return bad("--temperature", f.temperature, "a number >= 0");
  }
  if (!absl::SimpleAtod(f.top_p, &so.top_p)) return bad("--top-p", f.top_p, "a number in (0, 1]");
  if (!absl::SimpleAtoi(f.seed, &so.seed)) return bad("--seed", f.seed, "an unsigned integer");
  if (!absl::SimpleAtoi(f.chunk, &chunk) || chunk < 0) return bad("--chunk", f.chunk, "an integer >= 0");
  if (!absl::SimpleAtoi(f.threads, &threads) || threads < 0) {
    return bad("--threads", f.threads, "an integer >= 0");
  }
  auto sampler = rt::Sampler::Create(so);
  if (!sampler.ok()) {
    std::fprintf(stderr, "flashmem generate: %s\n", std::string(sampler.status().message()).c_str());
    return 2;
  }
  std::unique_ptr<rt::Model> model;
  if (int rc = LoadModelFromFlags("generate", f.model, f.kv, threads, &model); rc != 0) return rc;
  const int64_t vocab = model->config().vocab_size;
  if (int rc = CheckTokensInVocab("generate", "--prompt-tokens", prompt, vocab); rc != 0) return rc;
  auto seq = model->NewSequence();
  const int64_t n = static_cast<int64_t>(prompt.size());
  // Only the last prompt position's logits are needed, so the other rows skip the LM head.
  std::vector<float> logits(static_cast<size_t>(vocab));
  const int64_t t0 = MonotonicNs();
  absl::Status s = seq->Prefill(absl::MakeConstSpan(prompt).subspan(0, static_cast<size_t>(n - 1)),
                                chunk, nullptr);
  if (s.ok()) s = seq->Prefill(absl::MakeConstSpan(prompt).subspan(static_cast<size_t>(n - 1)), 1, logits.data());
  const int64_t t1 = MonotonicNs();
  std::vector<int32_t> generated;
  const int64_t eos = model->config().eos_token_id;
  for (int64_t i = 0; i < max_new && s.ok(); ++i) {
    absl::StatusOr<int32_t> next = sampler->Sample(logits);
    if (!next.ok()) {
      s = next.status();
      break;
    }
    generated.push_back(*next);
    if (*next == eos || i + 1 == max_new) break;
    s = seq->Decode(*next, logits.data());
  }
  const int64_t t2 = MonotonicNs();
  if (!s.ok()) {
    std::fprintf(stderr, "flashmem generate: %s\n", s.ToString().c_str());
    return 1;
  }
  const double prefill_s = static_cast<double>(t1 - t0) * 1e-9;
  const double decode_s = static_cast<double>(t2 - t1) * 1e-9;
  const int64_t decoded = generated.empty() ? 0 : static_cast<int64_t>(generated.size()) - 1;
  std::printf("%s\n", absl::StrJoin(generated, ",").c_str());
  std::printf("prefill: %lld tokens in %.3f s (%.2f tok/s)\n", static_cast<long long>(n), prefill_s,
              prefill_s > 0 ? static_cast<double>(n) / prefill_s : 0.0);
  std::printf("decode: %lld tokens in %.3f s (%.2f tok/s)\n", static_cast<long long>(decoded),
              decode_s, decode_s > 0 && decoded > 0 ? static_cast<double>(decoded) / decode_s : 0.0);
  return 0;
}

void AddGenerateCommand(CLI::App& root, Action* action) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App* cmd = root.add_subcommand("generate", "Generate tokens with the CPU reference model");
  cmd->add_option("--model", f->model, "checkpoint directory")->required();
  cmd->add_option("--prompt-tokens", f->prompt, "comma-separated prompt token ids")->required();
  cmd->add_option("--max-new", f->max_new, "tokens to generate")->required();
  cmd->add_option("--temperature", f->temperature, "0: greedy")->capture_default_str();
  cmd->add_option("--top-p", f->top_p, "nucleus mass in (0, 1]")->capture_default_str();
  cmd->add_option("--seed", f->seed, "sampling seed")->capture_default_str();
  cmd->add_option("--kv", f->kv, "KV cache format: fp32 | fp8")->capture_default_str();
  cmd->add_option("--chunk", f->chunk, "prefill chunk size in tokens (0: one chunk)")
      ->capture_default_str();
  cmd->add_option("--threads", f->threads, "compute threads (0: all cores)")->capture_default_str();
  cmd->callback([action, f] { *action = [f] { return RunGenerate(*f); }; });
}

}  // namespace

FM_REGISTER_COMMAND(AddGenerateCommand);

}  // namespace fm::cli
