// The training pipeline through the `flashmem` binary (issue #10): `synth` -> `label` ->
// `train-indexer` -> `run --mode lsa --indexer`, each exiting 0 with the files and summary fields
// it promises; the bad-input paths (a truncated label file, corrupt checkpoints given to
// `train-indexer --resume` and `run --indexer`) exiting non-zero with a message naming the file;
// and the planted-structure check of runtime/lsa/train/planted_test.cc at the CLI level: the
// trained weights raise Level-2 coverage in `flashmem run` over the native initialisation.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "runtime/lsa/train/planted_test_util.h"
#include "runtime/weights/checkpoint.h"
#include "runtime/weights/test_util.h"
#include "runtime/weights/tiny_checkpoint_test_util.h"

#ifndef FM_FLASHMEM_BINARY
#error "FM_FLASHMEM_BINARY (the path of the flashmem executable) must be defined by CMake"
#endif

namespace fm {
namespace {

namespace fs = std::filesystem;

struct CommandResult {
  int rc = -1;
  std::string out, err;
};

// Runs `flashmem ARGS` (arguments are plain paths and numbers: no quoting needed beyond the
// single quotes around each path the callers add), capturing stdout and stderr.
CommandResult Flashmem(const std::string& args, const fs::path& scratch) {
  static int counter = 0;
  const fs::path err = scratch / ("stderr_" + std::to_string(counter++) + ".txt");
  const std::string cmd =
      absl::StrCat("'", FM_FLASHMEM_BINARY, "' ", args, " 2>'", err.string(), "'");
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = rt::testing::ReadBytes(err);
  return r;
}

std::string Q(const fs::path& p) { return absl::StrCat("'", p.string(), "'"); }

nlohmann::json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in, nullptr, false);
}

class TrainIndexerCliTest : public ::testing::Test {
 protected:
  rt::testing::ScratchDir dir_{"train_indexer_cli"};
};

TEST_F(TrainIndexerCliTest, LabelTrainRunPipelineAndBadInputs) {
  const fs::path ck = dir_.path() / "ck", labels = dir_.path() / "labels",
                 out = dir_.path() / "out";
  CommandResult r = Flashmem("synth --preset tiny --out " + Q(ck), dir_.path());
  ASSERT_EQ(r.rc, 0) << r.err;
  fs::create_directories(labels);
  // Two documents (the tiny model has 2 CSA layers: theta = 1).
  for (int doc = 0; doc < 2; ++doc) {
    const fs::path file = labels / ("doc_" + std::to_string(doc) + ".fmlabels");
    r = Flashmem("label --model " + Q(ck) + " --random-tokens " + std::to_string(200 - 40 * doc) +
                     " --decode 48 --ignore-eos --min-layers 1 --threads 2 --seed " +
                     std::to_string(doc + 1) + " --out " + Q(file),
                 dir_.path());
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("48 decode tokens"), std::string::npos) << r.out;
    ASSERT_TRUE(fs::exists(file));
  }
  r = Flashmem("label --info " + Q(labels / "doc_0.fmlabels"), dir_.path());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("CRCs: ok"), std::string::npos) << r.out;

  // A few steps, streamed, with a cache smaller than the corpus; patience 1.
  const std::string train = "train-indexer --labels " + Q(labels) + " --model " + Q(ck) +
                            " --out " + Q(out) +
                            " --epochs 3 --batch 16 --tau 8 --lr 3e-3 --threads 2 --page-chunks 4 "
                            "--tail-chunks 8 --kmax 4 --cache-mb 0 --key-docs 1 --patience 1";
  r = Flashmem(train, dir_.path());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("best (F1"), std::string::npos) << r.out;
  for (const char* f : {"indexer.safetensors", "best.safetensors", "train_state.safetensors",
                        "metrics.json", "validation.svg"}) {
    EXPECT_TRUE(fs::exists(out / f)) << f;
  }
  const nlohmann::json m = ReadJson(out / "metrics.json");
  ASSERT_FALSE(m.is_discarded());
  ASSERT_TRUE(m["history"].is_array());
  ASSERT_GE(m["history"].size(), 2u);
  EXPECT_EQ(m["history"][0]["epoch"], 0);
  EXPECT_TRUE(m["history"][1]["validation"]["ensemble_mean"]["f1"].is_number());
  EXPECT_GT(m["samples_per_second"].get<double>(), 0);
  EXPECT_GE(m["best"]["epoch"].get<int64_t>(), 0);
  EXPECT_EQ(fs::path(m["best"]["file"].get<std::string>()), out / "best.safetensors");
  EXPECT_TRUE(m["memory"]["streamed"].get<bool>());
  EXPECT_GT(m["memory"]["token_reads"].get<int64_t>(), 0);
  // --cache-mb 0 and one document's keys: never more than two documents' keys resident.
  EXPECT_LT(m["memory"]["peak_resident_feature_bytes"].get<int64_t>(),
            m["memory"]["corpus_feature_bytes"].get<int64_t>());
  // Resuming a finished run is a no-op that succeeds.
  r = Flashmem(train + " --resume", dir_.path());
  ASSERT_EQ(r.rc, 0) << r.err;
  // A fresh run into the same directory without --resume is refused.
  r = Flashmem(train, dir_.path());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;

  for (const char* weights : {"indexer.safetensors", "best.safetensors"}) {
    r = Flashmem("run --model " + Q(ck) + " --mode lsa --indexer " + Q(out / weights) +
                     " --context 256 --decode 16 --page-chunks 4 --tau 8 --delta 4 --threads 2 "
                     "--measure-coverage on --json",
                 dir_.path());
    ASSERT_EQ(r.rc, 0) << r.err;
    const nlohmann::json s = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(s.is_discarded()) << r.out;
    EXPECT_EQ(s["mode"], "lsa");
    EXPECT_EQ(s["tokens"], 16);
    ASSERT_TRUE(s["coverage"].is_number()) << r.out;
    EXPECT_GE(s["coverage"].get<double>(), 0.0);
    EXPECT_LE(s["coverage"].get<double>(), 1.0);
    EXPECT_GT(s["cycles"].get<int64_t>(), 0);
  }

  // Bad inputs. A truncated label file: refused at load, naming it.
  const fs::path bad_labels = dir_.path() / "bad_labels";
  fs::create_directories(bad_labels);
  const std::string doc0 = rt::testing::ReadBytes(labels / "doc_0.fmlabels");
  rt::testing::WriteBytes(bad_labels / "cut.fmlabels", doc0.substr(0, doc0.size() * 2 / 3));
  r = Flashmem("train-indexer --labels " + Q(bad_labels) + " --model " + Q(ck) + " --out " +
                   Q(dir_.path() / "out_bad"),
               dir_.path());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("cut.fmlabels"), std::string::npos) << r.err;
  // A corrupt weights file: refused by --resume and by run --indexer, naming it.
  const fs::path corrupt = dir_.path() / "corrupt";
  fs::copy(out, corrupt);
  const std::string weights = rt::testing::ReadBytes(out / "indexer.safetensors");
  rt::testing::WriteBytes(corrupt / "indexer.safetensors", weights.substr(0, 300));
  const std::string resume = "train-indexer --labels " + Q(labels) + " --model " + Q(ck) +
                             " --out " + Q(corrupt) +
                             " --epochs 3 --batch 16 --tau 8 --lr 3e-3 --threads 2 --resume";
  r = Flashmem(resume, dir_.path());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("indexer.safetensors"), std::string::npos) << r.err;
  r = Flashmem("run --model " + Q(ck) + " --mode lsa --indexer " +
                   Q(corrupt / "indexer.safetensors") + " --context 64 --decode 4 --threads 2",
               dir_.path());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("indexer.safetensors"), std::string::npos) << r.err;
  // A corrupt training state and a corrupt best checkpoint: refused by --resume, naming them.
  fs::copy_file(out / "indexer.safetensors", corrupt / "indexer.safetensors",
                fs::copy_options::overwrite_existing);
  for (const char* f : {"train_state.safetensors", "best.safetensors"}) {
    const std::string good = rt::testing::ReadBytes(out / f);
    rt::testing::WriteBytes(corrupt / f, good.substr(0, good.size() - 17));
    r = Flashmem(resume, dir_.path());
    EXPECT_NE(r.rc, 0) << f;
    EXPECT_NE(r.err.find(f), std::string::npos) << r.err;
    rt::testing::WriteBytes(corrupt / f, good);
  }
  r = Flashmem(resume, dir_.path());
  EXPECT_EQ(r.rc, 0) << r.err;
}

TEST_F(TrainIndexerCliTest, PlantedRuleTrainedThroughTheCliRaisesCoverage) {
  using rt::train::testing::kFiller;
  using rt::train::testing::kNeedle;
  rt::testing::TinyCheckpoint ck("planted_cli", 13, "bf16");
  rt::train::testing::PlantCheckpoint(ck.path(), 2);
  if (HasFatalFailure()) return;
  auto config = rt::Checkpoint::Open(ck.path());
  ASSERT_TRUE(config.ok()) << config.status();
  const int64_t topk = (*config)->config().index_topk;
  // Prompts as bytes (token = byte mod vocab): the needle at tokens 96..127 for the labels and at
  // 32..63 for the run, as in planted_test.cc.
  auto prompt_file = [&](int64_t start, const char* name) {
    std::string bytes;
    for (int32_t t : rt::train::testing::PlantedPrompt(160, start))
      bytes.push_back(static_cast<char>(t));
    rt::testing::WriteBytes(dir_.path() / name, bytes);
    return dir_.path() / name;
  };
  static_assert(kNeedle < 128 && kFiller < 128, "the prompts are written as bytes");
  const fs::path train_prompt = prompt_file(rt::train::testing::kTrainNeedleStart, "train.bin");
  const fs::path run_prompt = prompt_file(rt::train::testing::kRunNeedleStart, "run.bin");
  const fs::path labels = dir_.path() / "planted.fmlabels", out = dir_.path() / "planted_out";
  CommandResult r = Flashmem("label --model " + Q(ck.path()) + " --prompt-file " + Q(train_prompt) +
                                 " --decode 256 --ignore-eos --topk " + std::to_string(topk) +
                                 " --top-p 1 --min-layers 1 --threads 2 --out " + Q(labels),
                             dir_.path());
  ASSERT_EQ(r.rc, 0) << r.err;
  r = Flashmem("train-indexer --labels " + Q(labels) + " --model " + Q(ck.path()) + " --out " +
                   Q(out) +
                   " --heads 8 --epochs 3 --batch 16 --lr 3e-3 --val-fraction 0.25 --tau 8 "
                   "--kmax 5 --tail-chunks 4 --page-chunks 4 --threads 2",
               dir_.path());
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json m = ReadJson(out / "metrics.json");
  ASSERT_FALSE(m.is_discarded());
  EXPECT_GE(m["history"].back()["validation"]["recall_at_keep"].get<double>(), 0.9);
  auto coverage = [&](const std::string& indexer_flag) {
    CommandResult run =
        Flashmem("run --model " + Q(ck.path()) + " --mode lsa " + indexer_flag + " --prompt-file " +
                     Q(run_prompt) +
                     " --context 160 --decode 128 --tau 8 --delta 4 --kmax 5 --tail-chunks 4 "
                     "--page-chunks 4 --measure-coverage on --threads 2 --json",
                 dir_.path());
    EXPECT_EQ(run.rc, 0) << run.err;
    const nlohmann::json s = nlohmann::json::parse(run.out, nullptr, false);
    return s.is_discarded() || !s["coverage"].is_number() ? -1.0 : s["coverage"].get<double>();
  };
  const double native = coverage("");
  const double trained = coverage("--indexer " + Q(out / "best.safetensors"));
  std::printf("flashmem run Level-2 coverage: native init %.4f, trained %.4f\n", native, trained);
  ASSERT_GE(native, 0.0);
  EXPECT_GT(trained, native + 0.3);
}

}  // namespace
}  // namespace fm
