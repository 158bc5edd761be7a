#include "runtime/lsa/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "kernels/cpu/thread_pool.h"
#include "runtime/lsa/train/focal_loss.h"

namespace fm::rt::train {
namespace {

// Stream ids of DerivedRng, so the epoch order and the per-sample draws never share a stream.
constexpr uint64_t kOrderStream = 1, kSampleStream = 2;

std::vector<std::vector<float>*> GradPointers(std::vector<RetrieverGrads>& g) {
  std::vector<std::vector<float>*> out;
  for (RetrieverGrads& r : g) {
    out.push_back(&r.wq_a);
    out.push_back(&r.q_norm);
    out.push_back(&r.wq_b);
    out.push_back(&r.weights_proj);
  }
  return out;
}

}  // namespace

IndexerTrainer::IndexerTrainer(std::unique_ptr<MemoryIndexer> indexer, const TrainCorpus* corpus,
                               const TrainOptions& options, std::filesystem::path out_dir)
    : indexer_(std::move(indexer)),
      corpus_(corpus),
      store_(std::make_unique<FeatureStore>(corpus, options.store, indexer_->thread_pool())),
      options_(options),
      out_dir_(std::move(out_dir)) {}

absl::StatusOr<std::unique_ptr<IndexerTrainer>> IndexerTrainer::Create(
    std::unique_ptr<MemoryIndexer> indexer, const TrainCorpus* corpus, const TrainOptions& options,
    std::filesystem::path out_dir) {
  if (indexer == nullptr || corpus == nullptr) {
    return absl::InvalidArgumentError("IndexerTrainer: null indexer or corpus");
  }
  auto bad = [](const char* field, auto v, const char* expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("train-indexer: ", field, "=", v, ": expected ", expected));
  };
  const SamplingOptions& s = options.sampling;
  if (s.tau < 1) return bad("tau", s.tau, ">= 1");
  if (s.max_pos < 1) return bad("max-pos", s.max_pos, ">= 1");
  if (!(s.neg_ratio >= 0)) return bad("neg-ratio", s.neg_ratio, ">= 0");
  if (!(options.gamma >= 0)) return bad("gamma", options.gamma, ">= 0");
  if (!(options.adam.lr > 0)) return bad("lr", options.adam.lr, "> 0");
  if (!(options.adam.weight_decay >= 0)) return bad("wd", options.adam.weight_decay, ">= 0");
  if (!(options.clip_norm > 0)) return bad("clip", options.clip_norm, "> 0");
  if (options.epochs < 1) return bad("epochs", options.epochs, ">= 1");
  if (options.batch < 1) return bad("batch", options.batch, ">= 1");
  if (!(options.val_fraction >= 0 && options.val_fraction < 1)) {
    return bad("val-fraction", options.val_fraction, "in [0, 1)");
  }
  if (options.val_stride < 1) return bad("val-stride", options.val_stride, ">= 1");
  if (options.max_steps < 0) return bad("max-steps", options.max_steps, ">= 0");
  if (options.patience < 0) return bad("patience", options.patience, ">= 0");
  if (indexer->n_targets() != corpus->n_targets()) {
    return absl::InvalidArgumentError(absl::StrCat("train-indexer: the indexer has ",
                                                   indexer->n_targets(), " targets, the labels ",
                                                   corpus->n_targets()));
  }
  for (int64_t t = 0; t < indexer->n_targets(); ++t) {
    if (indexer->target(t).csa_index != corpus->targets[static_cast<size_t>(t)].csa_index) {
      return absl::InvalidArgumentError(absl::StrCat(
          "train-indexer: indexer target ", t, " is CSA layer ", indexer->target(t).csa_index,
          "; the labels store CSA layer ", corpus->targets[static_cast<size_t>(t)].csa_index));
    }
  }
  std::unique_ptr<IndexerTrainer> tr(
      new IndexerTrainer(std::move(indexer), corpus, options, std::move(out_dir)));
  tr->options_.validation.tau = options.sampling.tau;
  std::vector<int64_t> first_val;
  for (size_t d = 0; d < corpus->documents.size(); ++d) {
    const DocumentLabels& l = corpus->documents[d].labels;
    const int64_t T = l.n_tokens();
    const int64_t n_val =
        static_cast<int64_t>(std::ceil(options.val_fraction * static_cast<double>(T)));
    first_val.push_back(T - n_val);
    for (int64_t t = 0; t < T - n_val; ++t) {
      if (IsTrainableToken(l, t, s.tau)) tr->train_tokens_.push_back({static_cast<int32_t>(d), t});
    }
  }
  tr->val_tokens_ = ValidationTokens(*corpus, first_val, options.val_stride);
  if (tr->train_tokens_.empty()) {
    return absl::InvalidArgumentError(
        "train-indexer: no training token has a visible chunk and a label in its window");
  }
  tr->steps_per_epoch_ = (tr->n_train_tokens() + options.batch - 1) / options.batch;
  for (int64_t t = 0; t < tr->indexer_->n_targets(); ++t) {
    RetrieverGrads z;
    z.ResetLike(tr->indexer_->target(t));
    tr->state_.m.push_back(z);
    tr->state_.v.push_back(z);
    tr->grads_.push_back(std::move(z));
  }
  tr->state_.fingerprint = tr->Fingerprint();
  return tr;
}

std::map<std::string, std::string> IndexerTrainer::Fingerprint() const {
  const TrainOptions& o = options_;
  std::string targets;
  for (int64_t t = 0; t < indexer_->n_targets(); ++t) {
    absl::StrAppend(&targets, t ? "," : "", indexer_->target(t).csa_index, ":h",
                    indexer_->target(t).n_heads, ":r", indexer_->target(t).rank);
  }
  return {{"seed", std::to_string(o.seed)},
          {"epochs", std::to_string(o.epochs)},
          {"batch", std::to_string(o.batch)},
          {"lr", absl::StrFormat("%.9g", o.adam.lr)},
          {"wd", absl::StrFormat("%.9g", o.adam.weight_decay)},
          {"gamma", absl::StrFormat("%.9g", o.gamma)},
          {"tau", std::to_string(o.sampling.tau)},
          {"neg_ratio", absl::StrFormat("%.9g", o.sampling.neg_ratio)},
          {"max_pos", std::to_string(o.sampling.max_pos)},
          {"val_fraction", absl::StrFormat("%.9g", o.val_fraction)},
          {"train_tokens", std::to_string(train_tokens_.size())},
          {"targets", targets}};
}

absl::Status IndexerTrainer::Resume() {
  FM_ASSIGN_OR_RETURN(TrainState s, LoadTrainState(out_dir_, *indexer_, Fingerprint()));
  if (s.step > total_steps()) {
    return absl::InvalidArgumentError(absl::StrCat((out_dir_ / kTrainStateFileName).string(),
                                                   ": step ", s.step, " is past the run's ",
                                                   total_steps(), " steps"));
  }
  state_ = std::move(s);
  // Patience is not part of the fingerprint: a resumed run may raise it (or turn it off) to go on.
  state_.best.early_stopped = options_.patience > 0 && state_.best.since >= options_.patience &&
                              state_.step < total_steps();
  return absl::OkStatus();
}

std::vector<TrainSample> IndexerTrainer::BatchSamples(int64_t epoch, int64_t index) {
  std::vector<int64_t> order(train_tokens_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::mt19937_64 rng = DerivedRng(options_.seed, kOrderStream, static_cast<uint64_t>(epoch), 0);
  Shuffle(&order, rng);
  const int64_t begin = index * options_.batch;
  const int64_t end = std::min<int64_t>(begin + options_.batch, static_cast<int64_t>(order.size()));
  std::vector<TrainSample> out(static_cast<size_t>(std::max<int64_t>(0, end - begin)));
  kernels::cpu::ParallelForOrInline(
      indexer_->thread_pool(), static_cast<int64_t>(out.size()), 1, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          TrainSample& s = out[static_cast<size_t>(i)];
          s.token = train_tokens_[static_cast<size_t>(order[static_cast<size_t>(begin + i)])];
          std::mt19937_64 srng =
              DerivedRng(options_.seed, kSampleStream, static_cast<uint64_t>(epoch),
                         static_cast<uint64_t>(begin + i));
          BuildTrainSample(corpus_->documents[static_cast<size_t>(s.token.doc)].labels,
                           s.token.token, options_.sampling, srng, &s.entries);
        }
      });
  return out;
}

absl::StatusOr<double> IndexerTrainer::LossAndGrads(absl::Span<const TrainSample> samples,
                                                    std::vector<RetrieverGrads>* grads) {
  const int64_t nt = indexer_->n_targets(), d = corpus_->hidden_size, DI = corpus_->index_head_dim;
  const int64_t B = static_cast<int64_t>(samples.size());
  grads->resize(static_cast<size_t>(nt));
  int64_t n_entries = 0;
  for (const TrainSample& s : samples) n_entries += static_cast<int64_t>(s.entries.chunks.size());
  if (n_entries == 0) return absl::InvalidArgumentError("train-indexer: a batch with no entries");
  const double grad_scale = 1.0 / (static_cast<double>(n_entries) * static_cast<double>(nt));
  act_.resize(static_cast<size_t>(nt));
  dq_.resize(static_cast<size_t>(nt));
  dw_.resize(static_cast<size_t>(nt));
  h_.resize(static_cast<size_t>(B * d));
  pos_.resize(static_cast<size_t>(B));
  tokens_.resize(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const TokenRef& tok = samples[static_cast<size_t>(b)].token;
    tokens_[static_cast<size_t>(b)] = tok;
    pos_[static_cast<size_t>(b)] = corpus_->documents[static_cast<size_t>(tok.doc)]
                                       .labels.positions[static_cast<size_t>(tok.token)];
  }
  FM_RETURN_IF_ERROR(store_->GatherHidden(tokens_, &batch_hidden_));
  // Target t's rows [B][d] of the batch's hidden states.
  auto target_rows = [&](int64_t t) {
    for (int64_t b = 0; b < B; ++b) {
      std::copy_n(batch_hidden_.data() + (b * nt + t) * d, d, h_.begin() + b * d);
    }
  };
  for (int64_t t = 0; t < nt; ++t) {
    const int64_t H = indexer_->target(t).n_heads;
    target_rows(t);
    FM_RETURN_IF_ERROR(
        indexer_->QueryForward(t, h_.data(), pos_.data(), B, &act_[static_cast<size_t>(t)]));
    dq_[static_cast<size_t>(t)].assign(static_cast<size_t>(B * H * DI), 0.0f);
    dw_[static_cast<size_t>(t)].assign(static_cast<size_t>(B * H), 0.0f);
  }
  // The batch's documents in order of first appearance. For each document and target, the union
  // of the rows its samples score (positives and negatives) is fetched once through the store's
  // bounded row-block cache, so a step never reads more key bytes than the documents' keys (and
  // usually far fewer); then every (target, sample) scores its own rows and writes its own loss
  // and gradient slots, so the order of the work does not change any value.
  std::vector<std::pair<int32_t, std::vector<int64_t>>> groups;
  for (int64_t b = 0; b < B; ++b) {
    const int32_t doc = samples[static_cast<size_t>(b)].token.doc;
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == doc; });
    if (it == groups.end()) {
      groups.push_back({doc, {}});
      it = groups.end() - 1;
    }
    it->second.push_back(b);
  }
  std::vector<double> loss(static_cast<size_t>(nt * B), 0.0);
  std::vector<absl::Status> status(static_cast<size_t>(nt * B));
  std::vector<std::vector<int32_t>> rows(static_cast<size_t>(nt));  // per target: sorted union
  std::vector<std::vector<float>> row_keys(static_cast<size_t>(nt));
  std::vector<absl::Status> gather(static_cast<size_t>(nt));
  for (const auto& [doc, members] : groups) {
    kernels::cpu::ParallelForOrInline(indexer_->thread_pool(), nt, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        std::vector<int32_t>& r = rows[static_cast<size_t>(t)];
        r.clear();
        for (int64_t b : members) {
          const std::vector<int32_t>& c = samples[static_cast<size_t>(b)].entries.chunks;
          r.insert(r.end(), c.begin(), c.end());
        }
        std::sort(r.begin(), r.end());
        r.erase(std::unique(r.begin(), r.end()), r.end());
        row_keys[static_cast<size_t>(t)].resize(r.size() * static_cast<size_t>(DI));
        gather[static_cast<size_t>(t)] =
            store_->GatherKeyRows(doc, t, r, row_keys[static_cast<size_t>(t)].data());
      }
    });
    for (const absl::Status& g : gather) FM_RETURN_IF_ERROR(g);
    const int64_t m = static_cast<int64_t>(members.size());
    kernels::cpu::ParallelForOrInline(
        indexer_->thread_pool(), nt * m, 1, [&](int64_t i0, int64_t i1) {
          std::vector<float> keys, logits, dlogit;
          for (int64_t i = i0; i < i1; ++i) {
            const int64_t t = i / m, b = members[static_cast<size_t>(i % m)];
            const int64_t H = indexer_->target(t).n_heads;
            const IndexerQueryBatch& act = act_[static_cast<size_t>(t)];
            const TrainSample& s = samples[static_cast<size_t>(b)];
            const std::vector<int32_t>& r = rows[static_cast<size_t>(t)];
            const int64_t n = static_cast<int64_t>(s.entries.chunks.size());
            keys.resize(static_cast<size_t>(n * DI));
            for (int64_t j = 0; j < n; ++j) {
              const auto at = std::lower_bound(r.begin(), r.end(),
                                               s.entries.chunks[static_cast<size_t>(j)]);
              std::copy_n(row_keys[static_cast<size_t>(t)].data() + (at - r.begin()) * DI, DI,
                          keys.begin() + j * DI);
            }
            logits.resize(static_cast<size_t>(n));
            dlogit.resize(static_cast<size_t>(n));
            const float* q = act.q.data() + b * H * DI;
            const float* wv = act.w.data() + b * H;
            absl::Status& st = status[static_cast<size_t>(t * B + b)];
            st = indexer_->ScoreKeys(q, wv, H, keys.data(), n, logits.data());
            if (!st.ok()) continue;
            loss[static_cast<size_t>(t * B + b)] =
                FocalBceSum(logits.data(), s.entries.labels.data(), s.entries.weights.data(), n,
                            options_.gamma, grad_scale, dlogit.data());
            ScoreKeysBackward(q, wv, H, DI, keys.data(), n, dlogit.data(),
                              dq_[static_cast<size_t>(t)].data() + b * H * DI,
                              dw_[static_cast<size_t>(t)].data() + b * H);
          }
        });
  }
  double total = 0;
  for (int64_t t = 0; t < nt; ++t) {
    double layer_sum = 0;
    for (int64_t b = 0; b < B; ++b) {
      FM_RETURN_IF_ERROR(status[static_cast<size_t>(t * B + b)]);
      layer_sum += loss[static_cast<size_t>(t * B + b)];
    }
    total += layer_sum / static_cast<double>(n_entries);
    (*grads)[static_cast<size_t>(t)].ResetLike(indexer_->target(t));
    target_rows(t);
    FM_RETURN_IF_ERROR(
        QueryBackward(*indexer_, t, h_.data(), pos_.data(), act_[static_cast<size_t>(t)],
                      dq_[static_cast<size_t>(t)].data(), dw_[static_cast<size_t>(t)].data(),
                      &(*grads)[static_cast<size_t>(t)], indexer_->thread_pool()));
  }
  return total / static_cast<double>(nt);
}

absl::StatusOr<StepStats> IndexerTrainer::OptimizerStep(absl::Span<const TrainSample> samples) {
  StepStats st;
  FM_ASSIGN_OR_RETURN(st.loss, LossAndGrads(samples, &grads_));
  std::vector<std::vector<float>*> g = GradPointers(grads_);
  st.grad_norm = GlobalGradNorm(g);
  if (!std::isfinite(st.grad_norm) || !std::isfinite(st.loss)) {
    return absl::InternalError(absl::StrCat("train-indexer: step ", state_.step, ": loss ", st.loss,
                                            ", gradient norm ", st.grad_norm,
                                            " (diverged; lower --lr)"));
  }
  ClipGradNorm(g, st.grad_norm, options_.clip_norm);
  st.lr = CosineLr(options_.adam.lr, state_.step, total_steps());
  const int64_t adam_step = state_.step + 1;
  for (int64_t t = 0; t < indexer_->n_targets(); ++t) {
    RetrieverWeights& w = indexer_->mutable_target(t);
    RetrieverGrads& gr = grads_[static_cast<size_t>(t)];
    RetrieverGrads& m = state_.m[static_cast<size_t>(t)];
    RetrieverGrads& v = state_.v[static_cast<size_t>(t)];
    AdamWUpdate(options_.adam, st.lr, adam_step, gr.wq_a, &w.wq_a, &m.wq_a, &v.wq_a);
    AdamWUpdate(options_.adam, st.lr, adam_step, gr.q_norm, &w.q_norm, &m.q_norm, &v.q_norm);
    AdamWUpdate(options_.adam, st.lr, adam_step, gr.wq_b, &w.wq_b, &m.wq_b, &v.wq_b);
    AdamWUpdate(options_.adam, st.lr, adam_step, gr.weights_proj, &w.weights_proj, &m.weights_proj,
                &v.weights_proj);
  }
  state_.step = adam_step;
  return st;
}

absl::StatusOr<ValidationMetrics> IndexerTrainer::Validate() {
  return train::Validate(*indexer_, *corpus_, store_.get(), val_tokens_, options_.validation);
}

absl::Status IndexerTrainer::RecordValidation(int64_t epoch, double train_loss, double seconds,
                                              double samples_per_s, const Logger& log,
                                              const EpochHook& on_epoch) {
  FM_ASSIGN_OR_RETURN(ValidationMetrics m, Validate());
  nlohmann::json e = {
      {"epoch", epoch},
      {"step", state_.step},
      {"train_loss", epoch == 0 ? nlohmann::json(nullptr) : nlohmann::json(train_loss)},
      {"seconds", seconds},
      {"samples_per_second", samples_per_s},
      {"validation", m.ToJson()}};
  // Best checkpoint and early stopping (spec §8): strictly better ensemble F1 wins, epoch 0 (the
  // initial weights) included, so best.safetensors always exists after the first validation.
  BestValidation& best = state_.best;
  const bool improved = best.epoch < 0 || m.ensemble.f1 > best.f1;
  if (improved) {
    FM_RETURN_IF_ERROR(
        WriteIndexerWeights(*indexer_, state_.step, out_dir_ / kBestIndexerFileName));
    best.epoch = epoch;
    best.step = state_.step;
    best.f1 = m.ensemble.f1;
    best.since = 0;
  } else {
    ++best.since;
    // Patience running out at the last step stops nothing: not an early stop.
    best.early_stopped =
        options_.patience > 0 && best.since >= options_.patience && state_.step < total_steps();
  }
  e["best"] = improved;
  state_.history.push_back(e);
  if (log) {
    log(absl::StrFormat(
        "epoch %d: %s val F1 %.4f (P %.4f R %.4f), recall@512 %.4f, keep-ratio %.4f at KMAX %d "
        "-> recall %.4f (%d tokens)",
        epoch, epoch == 0 ? std::string("initial,") : absl::StrFormat("loss %.5f,", train_loss),
        m.ensemble.f1, m.ensemble.precision, m.ensemble.recall, m.recall_at_k, m.keep_ratio,
        m.kmax_pages, m.recall_at_keep, m.n_tokens));
    log(improved
            ? absl::StrFormat("  best so far: saved %s", (out_dir_ / kBestIndexerFileName).string())
            : absl::StrFormat("  no better than the best F1 %.4f (epoch %d) for %d "
                              "validation(s)%s",
                              best.f1, best.epoch, best.since,
                              best.early_stopped ? ": stopping early (--patience)" : ""));
  }
  if (on_epoch) FM_RETURN_IF_ERROR(on_epoch(state_.history));
  return absl::OkStatus();
}

absl::Status IndexerTrainer::Run(const Logger& log, const EpochHook& on_epoch) {
  if (state_.history.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir_, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("cannot create ", out_dir_.string(), ": ", ec.message()));
    }
    FM_RETURN_IF_ERROR(RecordValidation(0, 0, 0, 0, log, on_epoch));
  }
  if (log) {
    log(absl::StrFormat(
        "%d training tokens, %d validation tokens, %d steps/epoch x %d epochs; "
        "starting at step %d",
        n_train_tokens(), n_val_tokens(), steps_per_epoch_, options_.epochs, state_.step));
  }
  double busy_seconds = 0;
  int64_t busy_samples = 0;
  auto epoch_start = std::chrono::steady_clock::now();
  int64_t epoch_samples = 0;
  while (state_.step < total_steps() && !state_.best.early_stopped) {
    const int64_t epoch = state_.step / steps_per_epoch_;
    const int64_t index = state_.step % steps_per_epoch_;
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t read_before = store_->bytes_read();
    const std::vector<TrainSample> batch = BatchSamples(epoch, index);
    FM_ASSIGN_OR_RETURN(const StepStats st, OptimizerStep(batch));
    step_bytes_read_ += store_->bytes_read() - read_before;
    ++steps_run_;
    busy_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    busy_samples += static_cast<int64_t>(batch.size());
    epoch_samples += static_cast<int64_t>(batch.size());
    state_.epoch_loss_sum += st.loss;
    ++state_.epoch_loss_steps;
    if (state_.step % steps_per_epoch_ == 0) {
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
      const double loss = state_.epoch_loss_sum / static_cast<double>(state_.epoch_loss_steps);
      state_.epoch_loss_sum = 0;
      state_.epoch_loss_steps = 0;
      FM_RETURN_IF_ERROR(RecordValidation(epoch + 1, loss, secs,
                                          static_cast<double>(epoch_samples) / std::max(secs, 1e-9),
                                          log, on_epoch));
      FM_RETURN_IF_ERROR(SaveCheckpoint(out_dir_, *indexer_, state_));
      if (state_.best.early_stopped && log) {
        log(absl::StrFormat("stopped early at step %d of %d: best F1 %.4f at epoch %d (step %d)",
                            state_.step, total_steps(), state_.best.f1, state_.best.epoch,
                            state_.best.step));
      }
      epoch_start = std::chrono::steady_clock::now();
      epoch_samples = 0;
    } else if ((options_.checkpoint_every > 0 && state_.step % options_.checkpoint_every == 0) ||
               (options_.max_steps > 0 && state_.step >= options_.max_steps)) {
      FM_RETURN_IF_ERROR(SaveCheckpoint(out_dir_, *indexer_, state_));
    }
    if (options_.max_steps > 0 && state_.step >= options_.max_steps) {
      if (log)
        log(absl::StrFormat("stopped at step %d (--max-steps); resume with --resume", state_.step));
      break;
    }
  }
  samples_per_second_ = busy_seconds > 0 ? static_cast<double>(busy_samples) / busy_seconds : 0;
  return absl::OkStatus();
}

}  // namespace fm::rt::train
