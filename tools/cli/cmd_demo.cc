// `flashmem demo [--out DIR] [--prompt-len N] [--max-new N] [--threads N]`: README command 1's main
// job. Synthesises the "small" V4-architecture checkpoint (once; reused while its config matches),
// loads it, prefills a deterministic prompt, generates tokens and prints throughput. No GPU, no
// download. The synthetic model has no tokenizer, so tokens are printed as ids.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/model/model.h"
#include "runtime/model/sampler.h"
#include "runtime/weights/synth.h"
#include "tools/cli/commands.h"

namespace fm::cli {
namespace {

struct DemoOptions {
  std::string out = "flashmem-demo-small";
  int64_t prompt_len = 256;
  int64_t max_new = 64;
  int threads = 0;
};

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// True when `dir` already holds the checkpoint `config` describes (same config.json text).
bool CheckpointMatches(const std::filesystem::path& dir, const rt::ModelConfig& config) {
  std::ifstream f(dir / "config.json");
  if (!f || !std::filesystem::exists(dir / "model.safetensors")) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str() == rt::ModelConfigToJson(config);
}

int RunDemo(const DemoOptions& o) {
  rt::SynthOptions synth;
  synth.preset = "small";
  synth.weights = "fp8";
  synth.seed = 1;
  auto config = rt::SynthConfig(synth);
  if (!config.ok()) {
    std::fprintf(stderr, "flashmem demo: %s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  const std::filesystem::path dir = o.out;
  if (!CheckpointMatches(dir, *config)) {
    std::printf("synthesising the 'small' V4 checkpoint (FP8 linears, MXFP4 experts) into %s ...\n",
                dir.c_str());
    auto t0 = std::chrono::steady_clock::now();
    if (absl::Status s = rt::WriteSynthCheckpoint(synth, dir); !s.ok()) {
      std::fprintf(stderr, "flashmem demo: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    std::printf("  written in %.1f s\n", SecondsSince(t0));
  }
  rt::ModelOptions mo;
  mo.kv_mode = rt::KvMode::kFp8;
  mo.n_threads = o.threads;
  auto model = rt::Model::Load(dir, mo);
  if (!model.ok()) {
    std::fprintf(stderr, "flashmem demo: %s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  const rt::ModelConfig& c = (*model)->config();
  int64_t csa = 0, hca = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    csa += c.is_csa(l);
    hca += c.is_hca(l);
  }
  std::printf("model: %lld layers (%lld CSA, %lld HCA, %lld SWA-only) + %lld MTP, hidden %lld, "
              "%lld heads x %lld, %lld experts top-%lld, vocab %lld, KV fp8 (584 B/entry)\n",
              (long long)c.num_hidden_layers, (long long)csa, (long long)hca,
              (long long)(c.num_hidden_layers - csa - hca), (long long)c.num_nextn_predict_layers,
              (long long)c.hidden_size, (long long)c.num_attention_heads, (long long)c.head_dim,
              (long long)c.n_routed_experts, (long long)c.num_experts_per_tok,
              (long long)c.vocab_size);

  // A deterministic prompt: BOS, then a linear-congruential walk over the vocabulary.
  std::vector<int32_t> prompt(static_cast<size_t>(o.prompt_len));
  uint64_t x = 12345;
  for (size_t i = 0; i < prompt.size(); ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    prompt[i] = i == 0 ? static_cast<int32_t>(c.bos_token_id)
                       : static_cast<int32_t>(2 + (x >> 33) % uint64_t(c.vocab_size - 2));
  }
  auto seq = (*model)->NewSequence();
  std::vector<float> logits(static_cast<size_t>(c.vocab_size * o.prompt_len));
  auto t0 = std::chrono::steady_clock::now();
  if (absl::Status s = seq->Prefill(prompt, 128, logits.data()); !s.ok()) {
    std::fprintf(stderr, "flashmem demo: prefill: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  const double prefill_s = SecondsSince(t0);
  auto sampler = rt::Sampler::Create({.temperature = 0.8, .top_p = 0.95, .seed = 7});
  if (!sampler.ok()) return 1;
  absl::Span<const float> last(logits.data() + (o.prompt_len - 1) * c.vocab_size,
                               static_cast<size_t>(c.vocab_size));
  std::vector<float> step_logits(static_cast<size_t>(c.vocab_size));
  std::vector<int32_t> generated;
  t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < o.max_new; ++i) {
    auto token = sampler->Sample(last);
    if (!token.ok()) return 1;
    generated.push_back(*token);
    if (i + 1 == o.max_new) break;
    if (absl::Status s = seq->Decode(*token, step_logits.data()); !s.ok()) {
      std::fprintf(stderr, "flashmem demo: decode: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    last = step_logits;
  }
  const double decode_s = SecondsSince(t0);
  std::printf("prompt: %lld tokens (synthetic model, no tokenizer: ids shown)\ngenerated:",
              (long long)o.prompt_len);
  for (int32_t t : generated) std::printf(" %d", t);
  std::printf("\nprefill: %.1f tok/s (%lld tokens in %.2f s)\n", o.prompt_len / prefill_s,
              (long long)o.prompt_len, prefill_s);
  std::printf("decode:  %.1f tok/s (%lld steps, TPOT %.1f ms, context %lld..%lld)\n",
              (o.max_new - 1) / decode_s, (long long)(o.max_new - 1),
              1e3 * decode_s / double(std::max<int64_t>(1, o.max_new - 1)), (long long)o.prompt_len,
              (long long)seq->length());
  return 0;
}

void AddDemoCommand(CLI::App& root, Action* action) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* sub = root.add_subcommand(
      "demo", "Synthesise a small V4 model, generate from it and print throughput (no GPU)");
  sub->add_option("--out", o->out, "checkpoint directory (created, or reused when it matches)");
  sub->add_option("--prompt-len", o->prompt_len, "prompt tokens")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--max-new", o->max_new, "tokens to generate")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--threads", o->threads, "CPU threads (0 = all cores)")->check(CLI::Range(0, 1024));
  sub->callback([o, action] { *action = [o] { return RunDemo(*o); }; });
}

FM_REGISTER_COMMAND(AddDemoCommand);

}  // namespace
}  // namespace fm::cli
