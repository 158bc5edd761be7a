// `flashmem label --model DIR (--prompt-file FILE | --random-tokens N) --decode N --out FILE
//  [--target-layers 0,1,2] [--topk 512] [--top-p 0.6] [--min-layers 3] [--hidden-dtype f32|bf16]
//  [--key-block-rows 16]
//  [--seed S] [--prefill-chunk N] [--ignore-eos] [--kv fp8|fp32] [--threads N]`
// and `flashmem label --info FILE`.
// Label generation (V4_FLASH_LSA.md §7, runtime/lsa/labels): a full-attention prefill of the
// prompt, greedy decoding of N tokens, and for each decode token its golden chunks (native indexer
// top-k -> softmax -> nucleus p -> votes over the CSA layers >= θ) with the target layers' hidden
// states, streamed to a .fmlabels file, then the targets' index keys. The prompt: --prompt-file
// bytes as token ids (byte mod vocab, the whole file: flashmem has no tokenizer), or N random
// tokens from --seed. --target-layers are CSA indices (default: {10, 12, 20} when the model has
// them, else its last three). --info prints a file's header and counts and checks every CRC.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "runtime/lsa/labels/golden_set.h"
#include "runtime/lsa/labels/label_file.h"
#include "runtime/lsa/labels/label_run.h"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/model/model.h"
#include "tools/cli/commands.h"
#include "tools/cli/util_model_flags.h"
#include "tools/cli/util_token_list.h"

namespace fm::cli {
namespace {

struct LabelFlags {
  std::string model, prompt_file, out, info, target_layers;
  // Numbers are taken as text and parsed here, so a malformed value is a usage error (exit 2).
  std::string random_tokens, decode, topk = "512", top_p = "0.6", min_layers = "3",
                                     hidden_dtype = "f32", seed = "0", prefill_chunk = "0",
                                     kv = "fp8", threads = "0", key_block_rows = "16";
  bool ignore_eos = false;
};

int Bad(const char* flag, const std::string& v, const std::string& expected) {
  std::fprintf(stderr, "flashmem label: %s=%s: expected %s\n", flag, v.c_str(), expected.c_str());
  return 2;
}

const char* DtypeName(rt::labels::HiddenDtype d) {
  return d == rt::labels::HiddenDtype::kF32 ? "f32" : "bf16";
}

int RunInfo(const std::string& path) {
  auto reader = rt::labels::LabelFileReader::Open(path);
  if (!reader.ok()) {
    std::fprintf(stderr, "flashmem label: --info: %s\n", reader.status().ToString().c_str());
    return 1;
  }
  const rt::labels::LabelFileReader& r = **reader;
  const rt::labels::LabelFileHeader& h = r.header();
  std::vector<std::string> targets;
  for (const auto& t : h.targets)
    targets.push_back(absl::StrCat(t.csa_index, " (layer ", t.model_layer, ")"));
  std::printf("file: %s (%lld bytes, version %u)\n", path.c_str(),
              static_cast<long long>(r.file_bytes()), h.version);
  std::printf(
      "model: hidden %lld, index_head_dim %lld, index_n_heads %lld, %lld CSA layers, %lld "
      "tokens/chunk\n",
      static_cast<long long>(h.hidden_size), static_cast<long long>(h.index_head_dim),
      static_cast<long long>(h.index_n_heads), static_cast<long long>(h.n_csa_layers),
      static_cast<long long>(h.tokens_per_chunk));
  std::printf("targets (CSA index): %s\n", absl::StrJoin(targets, ", ").c_str());
  std::printf("constants: topk %d, top_p %g, min_layers %d; hidden %s\n", h.constants.topk,
              static_cast<double>(h.constants.top_p), h.constants.min_layers,
              DtypeName(h.hidden_dtype));
  std::printf("source: %s\n", h.source.c_str());
  const rt::labels::LabelFileCounts& c = r.counts();
  std::printf(
      "prompt tokens %lld, decode tokens %lld, golden labels %lld (%.2f per token), chunks %lld\n",
      static_cast<long long>(h.n_prompt_tokens), static_cast<long long>(c.n_tokens),
      static_cast<long long>(c.n_labels),
      c.n_tokens > 0 ? static_cast<double>(c.n_labels) / static_cast<double>(c.n_tokens) : 0.0,
      static_cast<long long>(c.n_chunks));
  std::printf("index keys: %lld blocks of %lld rows per target\n",
              static_cast<long long>(r.n_key_blocks()), static_cast<long long>(r.key_block_rows()));
  if (absl::Status s = r.Validate(); !s.ok()) {
    std::fprintf(stderr, "flashmem label: --info: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("CRCs: ok (every record, index-key block, table and footer)\n");
  return 0;
}

// The bytes of `path` as token ids (byte mod vocab). False on a read error or an empty file.
bool ReadPromptBytes(const std::string& path, int64_t vocab, std::vector<int32_t>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->clear();
  for (std::istreambuf_iterator<char> it(in), end; it != end; ++it) {
    out->push_back(static_cast<int32_t>(static_cast<unsigned char>(*it) % vocab));
  }
  return !in.bad() && !out->empty();
}

int RunLabel(const LabelFlags& f) {
  if (!f.info.empty()) return RunInfo(f.info);
  if (f.model.empty()) return Bad("--model", f.model, "a checkpoint directory (or --info FILE)");
  if (f.out.empty()) return Bad("--out", f.out, "an output .fmlabels file");
  if (f.prompt_file.empty() == f.random_tokens.empty()) {
    return Bad("--prompt-file", f.prompt_file, "exactly one of --prompt-file and --random-tokens");
  }
  rt::labels::LabelRunOptions o;
  int64_t random_tokens = 0;
  uint64_t seed = 0;
  int threads = 0;
  if (!f.random_tokens.empty() &&
      (!absl::SimpleAtoi(f.random_tokens, &random_tokens) || random_tokens < 1)) {
    return Bad("--random-tokens", f.random_tokens, "an integer >= 1");
  }
  if (!absl::SimpleAtoi(f.decode, &o.n_decode) || o.n_decode < 1) {
    return Bad("--decode", f.decode, "an integer >= 1");
  }
  if (!absl::SimpleAtoi(f.topk, &o.constants.topk) || o.constants.topk < 1) {
    return Bad("--topk", f.topk, "an integer >= 1");
  }
  if (!absl::SimpleAtof(f.top_p, &o.constants.top_p) ||
      !(o.constants.top_p > 0.0f && o.constants.top_p <= 1.0f)) {
    return Bad("--top-p", f.top_p, "a number in (0, 1]");
  }
  if (!absl::SimpleAtoi(f.min_layers, &o.constants.min_layers) || o.constants.min_layers < 1) {
    return Bad("--min-layers", f.min_layers, "an integer >= 1");
  }
  if (f.hidden_dtype == "f32") {
    o.hidden_dtype = rt::labels::HiddenDtype::kF32;
  } else if (f.hidden_dtype == "bf16") {
    o.hidden_dtype = rt::labels::HiddenDtype::kBf16;
  } else {
    return Bad("--hidden-dtype", f.hidden_dtype, "f32 or bf16");
  }
  if (!absl::SimpleAtoi(f.key_block_rows, &o.key_block_rows) || o.key_block_rows < 1 ||
      o.key_block_rows > (int64_t{1} << 20)) {
    return Bad("--key-block-rows", f.key_block_rows, "an integer in [1, 1048576]");
  }
  if (!absl::SimpleAtoi(f.seed, &seed)) return Bad("--seed", f.seed, "an unsigned integer");
  if (!absl::SimpleAtoi(f.prefill_chunk, &o.prefill_chunk) || o.prefill_chunk < 0) {
    return Bad("--prefill-chunk", f.prefill_chunk, "an integer >= 0");
  }
  if (!absl::SimpleAtoi(f.threads, &threads) || threads < 0)
    return Bad("--threads", f.threads, "an integer >= 0");
  std::vector<int32_t> targets;
  if (!f.target_layers.empty() && !ParseTokenList(f.target_layers, &targets)) {
    return Bad("--target-layers", f.target_layers, "comma-separated CSA indices, e.g. 10,12,20");
  }
  o.stop_at_eos = !f.ignore_eos;

  std::unique_ptr<rt::Model> model;
  if (int rc = LoadModelFromFlags("label", f.model, f.kv, threads, &model); rc != 0) return rc;
  const rt::ModelConfig& config = model->config();
  const int64_t n_csa = static_cast<int64_t>(rt::CsaModelLayers(config).size());
  if (n_csa == 0) {
    std::fprintf(stderr, "flashmem label: --model=%s: the model has no CSA layer to label\n",
                 f.model.c_str());
    return 2;
  }
  for (int32_t c : targets) {
    if (c >= n_csa)
      return Bad("--target-layers", f.target_layers,
                 absl::StrCat("CSA indices in [0, ", n_csa, ")"));
    if (std::find(o.target_csa_indices.begin(), o.target_csa_indices.end(), c) !=
        o.target_csa_indices.end()) {
      return Bad("--target-layers", f.target_layers, "distinct CSA indices");
    }
    o.target_csa_indices.push_back(c);
  }
  std::vector<int32_t> prompt;
  if (!f.prompt_file.empty()) {
    if (!ReadPromptBytes(f.prompt_file, config.vocab_size, &prompt)) {
      return Bad("--prompt-file", f.prompt_file, "a readable, non-empty file");
    }
  } else {
    std::mt19937_64 rng(seed);
    prompt.resize(static_cast<size_t>(random_tokens));
    for (auto& t : prompt)
      t = static_cast<int32_t>(rng() % static_cast<uint64_t>(config.vocab_size));
  }
  if (static_cast<int64_t>(prompt.size()) + o.n_decode > config.max_position_embeddings) {
    return Bad(
        "--decode", f.decode,
        absl::StrCat("prompt (", prompt.size(), " tokens) + decode <= max_position_embeddings ",
                     config.max_position_embeddings));
  }
  o.source =
      absl::StrCat("model=", f.model, " prompt=",
                   f.prompt_file.empty() ? absl::StrCat("random:", random_tokens, ":seed=", seed)
                                         : f.prompt_file);
  // Progress on stderr, about 100 updates per run; the rate counts decode steps after the first.
  auto first_ns = std::make_shared<int64_t>(0);
  o.progress = [first_ns](int64_t done, int64_t total) {
    const int64_t now = MonotonicNs();
    if (done == 1) *first_ns = now;
    if (done != total && done % std::max<int64_t>(1, total / 100) != 0) return;
    const double s = static_cast<double>(now - *first_ns) * 1e-9;
    std::fprintf(stderr, "\rflashmem label: %lld/%lld decode tokens  %.1f tok/s",
                 static_cast<long long>(done), static_cast<long long>(total),
                 s > 0 ? static_cast<double>(done - 1) / s : 0.0);
    std::fflush(stderr);
  };
  if (o.constants.min_layers > n_csa) {
    std::fprintf(stderr,
                 "flashmem label: warning: --min-layers=%d exceeds the model's %lld CSA layers: no "
                 "chunk can be golden\n",
                 o.constants.min_layers, static_cast<long long>(n_csa));
  }
  std::fprintf(stderr, "flashmem label: prefilling %zu prompt tokens\n", prompt.size());
  auto summary = rt::labels::RunLabelDocument(*model, prompt, o, f.out);
  std::fprintf(stderr, "\n");
  if (!summary.ok()) {
    std::fprintf(stderr, "flashmem label: --out=%s: %s\n", f.out.c_str(),
                 summary.status().ToString().c_str());
    return 1;
  }
  const rt::labels::LabelRunSummary& s = *summary;
  std::printf(
      "wrote %s: %lld prompt + %lld decode tokens, %lld golden labels (%.2f per token), "
      "%lld chunks of index keys, %lld bytes, %.2f s\n",
      f.out.c_str(), static_cast<long long>(s.n_prompt_tokens),
      static_cast<long long>(s.counts.n_tokens), static_cast<long long>(s.counts.n_labels),
      s.mean_golden, static_cast<long long>(s.counts.n_chunks),
      static_cast<long long>(s.bytes_written), s.seconds);
  if (s.counts.n_tokens < o.n_decode) {
    std::printf("stopped at EOS after %lld of %lld decode tokens (--ignore-eos to go on)\n",
                static_cast<long long>(s.counts.n_tokens), static_cast<long long>(o.n_decode));
  }
  return 0;
}

void AddLabelCommand(CLI::App& root, Action* action) {
  auto f = std::make_shared<LabelFlags>();
  CLI::App* cmd = root.add_subcommand(
      "label", "Write golden-chunk labels for memory-indexer training (.fmlabels)");
  cmd->add_option("--model", f->model, "checkpoint directory");
  cmd->add_option("--prompt-file", f->prompt_file, "prompt bytes as token ids (byte mod vocab)");
  cmd->add_option("--random-tokens", f->random_tokens, "a prompt of N random tokens (from --seed)");
  cmd->add_option("--decode", f->decode, "greedy decode tokens to label");
  cmd->add_option("--out", f->out, "output .fmlabels file");
  cmd->add_option(
      "--target-layers", f->target_layers,
      "CSA indices whose h and index keys are stored (default: 10,12,20 or the last three)");
  cmd->add_option("--topk", f->topk, "logits per layer entering the softmax")
      ->capture_default_str();
  cmd->add_option("--top-p", f->top_p, "nucleus mass")->capture_default_str();
  cmd->add_option("--min-layers", f->min_layers, "votes a golden chunk needs (θ)")
      ->capture_default_str();
  cmd->add_option("--hidden-dtype", f->hidden_dtype, "stored hidden states: f32 | bf16")
      ->capture_default_str();
  cmd->add_option("--key-block-rows", f->key_block_rows,
                  "index-key rows per CRC block (the unit train-indexer reads)")
      ->capture_default_str();
  cmd->add_option("--seed", f->seed, "seed of --random-tokens")->capture_default_str();
  cmd->add_option("--prefill-chunk", f->prefill_chunk,
                  "prefill chunk size in tokens (0: one chunk)")
      ->capture_default_str();
  cmd->add_flag("--ignore-eos", f->ignore_eos, "keep decoding after the model emits EOS");
  cmd->add_option("--kv", f->kv, "KV cache format: fp32 | fp8")->capture_default_str();
  cmd->add_option("--threads", f->threads, "compute threads (0: all cores)")->capture_default_str();
  cmd->add_option("--info", f->info, "print a label file's header and counts and check its CRCs");
  cmd->callback([action, f] { *action = [f] { return RunLabel(*f); }; });
}

}  // namespace

FM_REGISTER_COMMAND(AddLabelCommand);

}  // namespace fm::cli
