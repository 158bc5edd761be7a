// `flashmem train-indexer --labels PATH... --model DIR --out DIR [--epochs 3] [--lr 1e-4]
//  [--wd 0.01] [--tau 64] [--neg-ratio 3] [--max-pos 512] [--gamma 2] [--batch 64] [--heads H]
//  [--rank R] [--val-fraction 0.1] [--seed 1] [--resume] [--threads N] [--kmax auto|N]
//  [--tail-chunks 2048] [--page-chunks 64] [--threshold 0.5] [--max-steps N]
//  [--checkpoint-every N] [--patience N] [--cache-mb 1024] [--key-cache-mb 256] [--key-docs 4]
//  [--in-memory] [--json]`
// Trains the memory indexer (runtime/lsa/train) on label files written by `flashmem label`,
// starting from the model's native indexer (spec §8 initialisation; --heads / --rank widen it).
// OUT receives indexer.safetensors (what `flashmem run --indexer` loads), best.safetensors (the
// weights at the best validation F1, same format), train_state.safetensors (for --resume),
// metrics.json (per-epoch validation, epoch 0 = before training; the best epoch/step; memory) and
// validation.svg. --patience N stops after N validations without a better F1 (0 = off).
// The corpus is streamed: only labels stay in memory, hidden states are read per batch through a
// --cache-mb LRU, training reads only the index-key rows each sample scores (the label file's
// row blocks, through a --key-cache-mb LRU) and validation whole documents' keys (--key-docs
// documents kept); --in-memory loads
// everything up front (the old behaviour, bounded by RAM). --kmax / --tail-chunks / --page-chunks /
// --threshold set the Level-1 page policy the validation keep-ratio is measured with (use the
// values of the `flashmem run` it is for).

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "kernels/cpu/thread_pool.h"
#include "nlohmann/json.hpp"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/lsa/train/train_init.h"
#include "runtime/lsa/train/trainer.h"
#include "runtime/weights/checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/plot/svg_plot.h"

namespace fm::cli {
namespace {

struct TrainIndexerFlags {
  std::vector<std::string> labels;
  std::string model, out, kmax = "auto";
  int64_t heads = 0, rank = 0, page_chunks = 64, tail_chunks = 2048, cache_mb = 1024,
          key_cache_mb = 256;
  bool in_memory = false;
  int threads = 0;
  double threshold = 0.5;
  bool resume = false, json = false;
  rt::train::TrainOptions options;
};

int Fail(int code, const std::string& what, const absl::Status& s) {
  std::fprintf(stderr, "flashmem train-indexer: %s%s%s\n", what.c_str(), what.empty() ? "" : ": ",
               std::string(s.message()).c_str());
  return code;
}

// Bad input (files, shapes, settings) exits 2; anything else (I/O, numerics) 1.
int CodeOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kOutOfRange:
      return 2;
    default:
      return 1;
  }
}

nlohmann::json Report(const rt::train::IndexerTrainer& tr, const rt::train::TrainCorpus& corpus,
                      const std::filesystem::path& out) {
  const rt::train::FeatureStore& store = tr.store();
  nlohmann::json best = tr.state().best.ToJson();
  best["file"] = (out / rt::train::kBestIndexerFileName).string();
  return {{"history", tr.state().history},
          {"samples_per_second", tr.samples_per_second()},
          {"step", tr.state().step},
          {"total_steps", tr.total_steps()},
          {"best", best},
          {"memory",
           {{"streamed", !corpus.documents.empty() && corpus.documents.front().streamed},
            {"corpus_feature_bytes", corpus.feature_bytes()},
            {"label_bytes", corpus.label_bytes()},
            {"peak_resident_feature_bytes", store.peak_resident_bytes()},
            {"token_reads", store.token_reads()},
            {"key_reads", store.key_reads()},
            {"key_block_reads", store.key_block_reads()},
            {"peak_key_block_bytes", store.peak_key_block_bytes()},
            {"bytes_read_per_step", tr.bytes_read_per_step()}}}};
}

absl::Status WriteReports(const std::filesystem::path& out, const nlohmann::json& report) {
  const nlohmann::json& history = report["history"];
  {
    std::ofstream f(out / "metrics.json", std::ios::trunc);
    f << report.dump(2) << "\n";
    if (!f) {
      return absl::UnavailableError((out / "metrics.json").string() + ": cannot be written");
    }
  }
  plot::PlotSpec spec;
  spec.title = "memory indexer validation (held-out tokens)";
  spec.x_label = "epoch";
  spec.y_label = "value";
  spec.x_tick_format = [](double x) { return std::to_string(static_cast<int>(x)); };
  struct Curve {
    const char* label;
    const char* key;
    const char* sub;
  };
  const Curve curves[] = {{"F1 @0.5 (mean ens.)", "ensemble_mean", "f1"},
                          {"precision @0.5", "ensemble_mean", "precision"},
                          {"recall @0.5", "ensemble_mean", "recall"},
                          {"recall@512", "recall_at_512", nullptr},
                          {"recall at KMAX pages", "recall_at_keep", nullptr},
                          {"keep-ratio at KMAX", "keep_ratio", nullptr}};
  for (const Curve& c : curves) {
    plot::Series s;
    s.label = c.label;
    for (const nlohmann::json& e : history) {
      const nlohmann::json& v = e["validation"][c.key];
      s.x.push_back(e["epoch"].get<double>());
      s.y.push_back(c.sub ? v[c.sub].get<double>() : v.get<double>());
    }
    spec.series.push_back(std::move(s));
  }
  return plot::WriteSvg(spec, (out / "validation.svg").string());
}

int RunTrainIndexer(TrainIndexerFlags& f) {
  rt::train::TrainOptions& o = f.options;
  if (f.kmax != "auto") {
    int64_t k = 0;
    if (!absl::SimpleAtoi(f.kmax, &k) || k < 1 || k > (1 << 20)) {
      std::fprintf(stderr,
                   "flashmem train-indexer: --kmax=%s: expected auto or an integer in [1, 2^20]\n",
                   f.kmax.c_str());
      return 2;
    }
    o.validation.policy.kmax_pages = static_cast<int32_t>(k);
  }
  o.validation.policy.tail_chunks = f.tail_chunks;
  o.validation.policy.threshold = f.threshold;
  o.validation.geometry.chunks_per_page = static_cast<int32_t>(f.page_chunks);
  if (absl::Status s = o.validation.geometry.Validate(); !s.ok())
    return Fail(2, "--page-chunks", s);
  if (absl::Status s = o.validation.policy.Validate(o.validation.kmax_max_pages); !s.ok()) {
    return Fail(2, "--kmax/--tail-chunks/--threshold", s);
  }
  auto ck = rt::Checkpoint::Open(f.model);
  if (!ck.ok()) return Fail(2, "--model=" + f.model, ck.status());
  const rt::ModelConfig& config = (*ck)->config();
  const auto t_load = std::chrono::steady_clock::now();
  std::vector<std::filesystem::path> inputs(f.labels.begin(), f.labels.end());
  o.store.hidden_cache_bytes = f.cache_mb << 20;
  o.store.key_block_cache_bytes = f.key_cache_mb << 20;
  auto corpus = rt::train::LoadTrainCorpus(
      inputs, config, o.sampling.trivial_fraction,
      f.in_memory ? rt::train::CorpusStorage::kInMemory : rt::train::CorpusStorage::kStreamed);
  if (!corpus.ok()) return Fail(CodeOf(corpus.status()), "--labels", corpus.status());
  std::fprintf(
      stderr,
      "flashmem train-indexer: %zu document(s), %lld decode tokens, %lld target(s), "
      "loaded in %.1f s (%s: %.1f MB of labels in memory; hidden states and keys %.1f MB)\n",
      corpus->documents.size(), static_cast<long long>(corpus->n_tokens()),
      static_cast<long long>(corpus->n_targets()),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count(),
      f.in_memory ? "in memory" : "streamed", static_cast<double>(corpus->label_bytes()) / 1e6,
      static_cast<double>(corpus->feature_bytes()) / 1e6);
  const std::filesystem::path out(f.out);
  absl::StatusOr<std::unique_ptr<rt::MemoryIndexer>> mi;
  if (f.resume) {
    mi = rt::MemoryIndexer::FromSafetensors(out / rt::train::kIndexerFileName, config,
                                            corpus->csa_indices());
  } else {
    rt::NativeInitOptions init;
    init.n_heads = f.heads;
    init.rank = f.rank;
    mi = rt::MemoryIndexer::FromNative(**ck, corpus->csa_indices(), init);
    if (mi.ok()) {
      rt::train::InitPaddingLikeTorch(mi->get(), config.index_n_heads, config.q_lora_rank, o.seed);
    }
  }
  if (!mi.ok()) {
    return Fail(CodeOf(mi.status()),
                f.resume ? "--resume (" + (out / rt::train::kIndexerFileName).string() + ")"
                         : std::string("initialisation"),
                mi.status());
  }
  kernels::cpu::ThreadPool pool(f.threads);
  (*mi)->UseThreadPool(&pool);
  auto trainer = rt::train::IndexerTrainer::Create(std::move(*mi), &*corpus, o, out);
  if (!trainer.ok()) return Fail(2, "", trainer.status());
  if (f.resume) {
    if (absl::Status s = (*trainer)->Resume(); !s.ok()) return Fail(CodeOf(s), "--resume", s);
  } else if (std::filesystem::exists(out / rt::train::kTrainStateFileName)) {
    std::fprintf(stderr,
                 "flashmem train-indexer: --out=%s already holds a training state; pass --resume "
                 "to continue it or choose another directory\n",
                 f.out.c_str());
    return 2;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(out, ec);
    if (ec) {
      std::fprintf(stderr, "flashmem train-indexer: --out=%s: %s\n", f.out.c_str(),
                   ec.message().c_str());
      return 2;
    }
  }
  auto log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  rt::train::IndexerTrainer* tr = trainer->get();
  const rt::train::TrainCorpus* corpus_ptr = &*corpus;
  auto on_epoch = [&out, tr, corpus_ptr](const nlohmann::json&) {
    return WriteReports(out, Report(*tr, *corpus_ptr, out));
  };
  if (absl::Status s = tr->Run(log, on_epoch); !s.ok()) return Fail(1, "", s);
  const nlohmann::json report = Report(*tr, *corpus, out);
  if (absl::Status s = WriteReports(out, report); !s.ok()) return Fail(1, "", s);
  const rt::train::BestValidation& best = tr->state().best;
  if (f.json) {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    std::printf(
        "trained %lld/%lld steps%s at %.1f samples/s; weights: %s; best (F1 %.4f, epoch %lld, "
        "step %lld): %s; metrics: %s; peak resident hidden states and keys %.1f MB\n",
        static_cast<long long>(tr->state().step), static_cast<long long>(tr->total_steps()),
        best.early_stopped ? " (stopped early)" : "", tr->samples_per_second(),
        (out / rt::train::kIndexerFileName).string().c_str(), best.f1,
        static_cast<long long>(best.epoch), static_cast<long long>(best.step),
        (out / rt::train::kBestIndexerFileName).string().c_str(),
        (out / "metrics.json").string().c_str(),
        static_cast<double>(tr->store().peak_resident_bytes()) / 1e6);
  }
  return 0;
}

void AddTrainIndexerCommand(CLI::App& root, Action* action) {
  auto f = std::make_shared<TrainIndexerFlags>();
  rt::train::TrainOptions& o = f->options;
  CLI::App* cmd = root.add_subcommand(
      "train-indexer", "Train the LSA memory indexer on label files (flashmem label)");
  cmd->add_option("--labels", f->labels, ".fmlabels files or directories of them")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--model", f->model, "checkpoint directory (config + native indexer)")
      ->required();
  cmd->add_option("--out", f->out, "output directory (weights, state, metrics)")->required();
  cmd->add_option("--epochs", o.epochs, "epochs")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--lr", o.adam.lr, "AdamW learning rate (cosine schedule)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--wd", o.adam.weight_decay, "AdamW weight decay")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--tau", o.sampling.tau, "look-ahead window (tokens) of the positives")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--neg-ratio", o.sampling.neg_ratio, "negatives per positive")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-pos", o.sampling.max_pos, "positives per sample (sub-sampled above)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--gamma", o.gamma, "focal-loss exponent")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", o.batch, "samples per optimizer step")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--heads", f->heads, "indexer heads (0 = the native indexer's)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 16));
  cmd->add_option("--rank", f->rank, "query LoRA rank (0 = q_lora_rank)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--val-fraction", o.val_fraction, "held-out fraction of each document's tokens")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.99));
  cmd->add_option("--seed", o.seed, "sampling seed")->capture_default_str();
  cmd->add_flag("--resume", f->resume, "continue the training state in --out");
  cmd->add_option("--threads", f->threads, "CPU threads (0 = all)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--kmax", f->kmax, "validation page policy: KMAX pages, auto or N")
      ->capture_default_str();
  cmd->add_option("--tail-chunks", f->tail_chunks, "validation page policy: recency tail")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--page-chunks", f->page_chunks, "validation page policy: chunks per page")
      ->capture_default_str()
      ->check(CLI::Range(1, 255));
  cmd->add_option("--threshold", f->threshold, "validation page policy: sigma threshold")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--max-steps", o.max_steps,
                  "stop (checkpointed) after this many optimizer steps in total; 0 = all")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "also checkpoint every N steps")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--patience", o.patience,
                  "stop after N validations without a better ensemble F1; 0 = off")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--cache-mb", f->cache_mb, "streamed corpus: hidden-state cache (MiB)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  cmd->add_option("--key-cache-mb", f->key_cache_mb,
                  "streamed corpus: cache of index-key row blocks read by training (MiB)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  cmd->add_option("--key-docs", o.store.key_documents,
                  "streamed corpus: documents whose whole index keys stay loaded (validation)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_flag("--in-memory", f->in_memory,
                "load every hidden state and key up front instead of streaming them");
  cmd->add_flag("--json", f->json, "print the metrics as JSON");
  cmd->callback([f, action] { *action = [f] { return RunTrainIndexer(*f); }; });
}

}  // namespace
FM_REGISTER_COMMAND(AddTrainIndexerCommand);
}  // namespace fm::cli
