// `flashmem logits --model DIR --tokens 1,2,3 --out FILE.npy [--decode-from N] [--kv fp32|fp8]
//  [--chunk N] [--threads N]`: runs the CPU reference forward pass and writes the next-token
// logits of every position as a float32 NPY array [T, vocab]. With --decode-from N the first N
// tokens are prefilled (in chunks of --chunk) and the rest decoded one at a time.

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/model/model.h"
#include "tools/cli/commands.h"
#include "tools/cli/util_model_flags.h"
#include "tools/cli/util_token_list.h"

namespace fm::cli {
namespace {

struct LogitsFlags {
  std::string model, tokens, out;
  // Numbers are taken as text and parsed here, so a malformed value is a usage error (exit 2).
  std::string decode_from = "-1", kv = "fp8", chunk = "0", threads = "0";
};

// NPY v1.0: magic, version, u16 header length, a Python dict literal padded with spaces to make
// the data start 64-byte aligned, then little-endian float32 in C order.
bool WriteNpy(const std::string& path, const std::vector<float>& data, int64_t rows, int64_t cols) {
  std::string header = absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (", rows,
                                    ", ", cols, "), }");
  const size_t prefix = 10;  // magic (6) + version (2) + header length (2)
  const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header.push_back('\n');
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return false;
  const char magic[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  f.write(magic, 8);
  const uint16_t len = static_cast<uint16_t>(header.size());
  const char len_le[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  f.write(len_le, 2);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  // x86-64 and aarch64 hosts are little-endian, so the floats are written as they are.
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size() * 4));
  return static_cast<bool>(f);
}

int RunLogits(const LogitsFlags& f) {
  auto bad = [](const char* flag, const std::string& v, const char* expected) {
    std::fprintf(stderr, "flashmem logits: %s=%s: expected %s\n", flag, v.c_str(), expected);
    return 2;
  };
  std::vector<int32_t> tokens;
  if (!ParseTokenList(f.tokens, &tokens)) {
    return bad("--tokens", f.tokens, "a comma-separated list of non-negative token ids");
  }
  int64_t decode_from = 0, chunk = 0;
  int threads = 0;
  if (!absl::SimpleAtoi(f.decode_from, &decode_from) || decode_from < -1 ||
      decode_from > static_cast<int64_t>(tokens.size())) {
    return bad("--decode-from", f.decode_from,
               absl::StrCat("an integer in [0, ", tokens.size(), "] (the token count)").c_str());
  }
  if (!absl::SimpleAtoi(f.chunk, &chunk) || chunk < 0) return bad("--chunk", f.chunk, "an integer >= 0");
  if (!absl::SimpleAtoi(f.threads, &threads) || threads < 0) {
    return bad("--threads", f.threads, "an integer >= 0");
  }
  std::unique_ptr<rt::Model> model;
  if (int rc = LoadModelFromFlags("logits", f.model, f.kv, threads, &model); rc != 0) return rc;
  const int64_t vocab = model->config().vocab_size;
  if (int rc = CheckTokensInVocab("logits", "--tokens", tokens, vocab); rc != 0) return rc;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t n_prefill = decode_from < 0 ? n : decode_from;
  std::vector<float> logits(static_cast<size_t>(n * vocab));
  auto seq = model->NewSequence();
  absl::Status s = seq->Prefill(absl::MakeConstSpan(tokens).subspan(0, static_cast<size_t>(n_prefill)),
                                chunk, logits.data());
  for (int64_t t = n_prefill; t < n && s.ok(); ++t) {
    s = seq->Decode(tokens[static_cast<size_t>(t)], logits.data() + t * vocab);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "flashmem logits: %s\n", s.ToString().c_str());
    return 1;
  }
  if (!WriteNpy(f.out, logits, n, vocab)) {
    std::fprintf(stderr, "flashmem logits: --out=%s: cannot write the file\n", f.out.c_str());
    return 1;
  }
  std::printf("wrote logits [%lld, %lld] to %s\n", static_cast<long long>(n),
              static_cast<long long>(vocab), f.out.c_str());
  return 0;
}

void AddLogitsCommand(CLI::App& root, Action* action) {
  auto f = std::make_shared<LogitsFlags>();
  CLI::App* cmd = root.add_subcommand("logits", "Write next-token logits [T, vocab] as float32 NPY");
  cmd->add_option("--model", f->model, "checkpoint directory")->required();
  cmd->add_option("--tokens", f->tokens, "comma-separated token ids, e.g. 1,2,3")->required();
  cmd->add_option("--out", f->out, "output .npy file")->required();
  cmd->add_option("--decode-from", f->decode_from,
                  "prefill this many tokens, decode the rest one at a time (default: prefill all)");
  cmd->add_option("--kv", f->kv, "KV cache format: fp32 | fp8")->capture_default_str();
  cmd->add_option("--chunk", f->chunk, "prefill chunk size in tokens (0: one chunk)")
      ->capture_default_str();
  cmd->add_option("--threads", f->threads, "compute threads (0: all cores)")->capture_default_str();
  cmd->callback([action, f] { *action = [f] { return RunLogits(*f); }; });
}

}  // namespace

FM_REGISTER_COMMAND(AddLogitsCommand);

}  // namespace fm::cli
