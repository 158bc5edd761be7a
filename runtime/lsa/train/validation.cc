#include "runtime/lsa/train/validation.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cpu/thread_pool.h"

namespace fm::rt::train {
namespace {

// What one validation token contributes; summed in token order so results do not depend on the
// thread count.
struct TokenResult {
  bool scored = false;
  std::vector<ClassMetrics> layers;
  ClassMetrics ensemble;
  int64_t n_pos = 0, pos_in_top_k = 0, pos_kept = 0, kept = 0, visible = 0;
  int32_t kmax = 0;
  absl::Status status;
};

void Count(bool predicted, bool positive, ClassMetrics* m) {
  if (predicted && positive) ++m->tp;
  if (predicted && !positive) ++m->fp;
  if (!predicted && positive) ++m->fn;
}

void Add(const ClassMetrics& from, ClassMetrics* to) {
  to->tp += from.tp;
  to->fp += from.fp;
  to->fn += from.fn;
}

nlohmann::json ClassJson(const ClassMetrics& m) {
  return {{"precision", m.precision},
          {"recall", m.recall},
          {"f1", m.f1},
          {"tp", m.tp},
          {"fp", m.fp},
          {"fn", m.fn}};
}

}  // namespace

void ClassMetrics::Finish() {
  precision = tp + fp > 0 ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0.0;
  recall = tp + fn > 0 ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
  f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
}

nlohmann::json ValidationMetrics::ToJson() const {
  nlohmann::json layer_json = nlohmann::json::array();
  for (const ClassMetrics& m : layers) layer_json.push_back(ClassJson(m));
  return {{"tokens", n_tokens},
          {"positives", n_positives},
          {"layers", layer_json},
          {"ensemble_mean", ClassJson(ensemble)},
          {"recall_at_512", recall_at_k},
          {"keep_ratio", keep_ratio},
          {"recall_at_keep", recall_at_keep},
          {"kmax_pages", kmax_pages}};
}

std::vector<TokenRef> ValidationTokens(const TrainCorpus& corpus,
                                       const std::vector<int64_t>& first_val_token,
                                       int64_t stride) {
  std::vector<TokenRef> out;
  for (size_t d = 0; d < corpus.documents.size(); ++d) {
    const DocumentLabels& l = corpus.documents[d].labels;
    for (int64_t t = first_val_token[d]; t < l.n_tokens(); t += stride) {
      if (l.visible[static_cast<size_t>(t)] > 0) out.push_back({static_cast<int32_t>(d), t});
    }
  }
  return out;
}

absl::StatusOr<ValidationMetrics> Validate(MemoryIndexer& indexer, const TrainCorpus& corpus,
                                           FeatureStore* store, const std::vector<TokenRef>& tokens,
                                           const ValidationOptions& options) {
  const int64_t nt = corpus.n_targets(), d = corpus.hidden_size, DI = corpus.index_head_dim;
  ValidationMetrics out;
  out.layers.resize(static_cast<size_t>(nt));
  int64_t pos_total = 0, pos_top_k = 0, pos_kept = 0;
  double keep_sum = 0;
  constexpr int64_t kBlock = 32;  // tokens scored together (bounds the probability buffers)
  std::vector<IndexerQueryBatch> act(static_cast<size_t>(nt));
  std::vector<float> h, block_hidden;
  std::vector<int64_t> pos;
  for (size_t b0 = 0; b0 < tokens.size();) {
    // A block holds tokens of one document, so each target's query path runs as one batch.
    size_t b1 = b0;
    while (b1 < tokens.size() && b1 - b0 < kBlock && tokens[b1].doc == tokens[b0].doc) ++b1;
    const TrainDocument& doc = corpus.documents[static_cast<size_t>(tokens[b0].doc)];
    const int64_t n = static_cast<int64_t>(b1 - b0);
    pos.resize(static_cast<size_t>(n));
    h.resize(static_cast<size_t>(n * d));
    FM_RETURN_IF_ERROR(store->GatherHidden(
        absl::MakeConstSpan(tokens).subspan(b0, static_cast<size_t>(n)), &block_hidden));
    FM_ASSIGN_OR_RETURN(const FeatureStore::KeysHandle doc_keys, store->Keys(tokens[b0].doc));
    for (int64_t t = 0; t < nt; ++t) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t tok = tokens[b0 + static_cast<size_t>(i)].token;
        pos[static_cast<size_t>(i)] = doc.labels.positions[static_cast<size_t>(tok)];
        std::copy_n(block_hidden.data() + (i * nt + t) * d, d, h.begin() + i * d);
      }
      FM_RETURN_IF_ERROR(
          indexer.QueryForward(t, h.data(), pos.data(), n, &act[static_cast<size_t>(t)]));
    }
    std::vector<TokenResult> results(static_cast<size_t>(n));
    auto score = [&](int64_t i0, int64_t i1) {
      std::vector<std::vector<float>> probs(static_cast<size_t>(nt));
      std::vector<float> mean;
      std::vector<int32_t> order;
      std::vector<uint8_t> density, is_pos;
      sched::Selection sel;
      for (int64_t i = i0; i < i1; ++i) {
        TokenResult& r = results[static_cast<size_t>(i)];
        const int64_t tok = tokens[b0 + static_cast<size_t>(i)].token;
        const int64_t vis = doc.labels.visible[static_cast<size_t>(tok)];
        const std::vector<int32_t> positives = WindowPositives(doc.labels, tok, options.tau, vis);
        if (positives.empty()) continue;
        r.scored = true;
        r.layers.resize(static_cast<size_t>(nt));
        is_pos.assign(static_cast<size_t>(vis), 0);
        for (int32_t c : positives) is_pos[static_cast<size_t>(c)] = 1;
        mean.assign(static_cast<size_t>(vis), 0.0f);
        std::vector<absl::Span<const float>> spans;
        for (int64_t t = 0; t < nt; ++t) {
          const IndexerQueryBatch& a = act[static_cast<size_t>(t)];
          const int64_t H = indexer.target(t).n_heads;
          std::vector<float>& p = probs[static_cast<size_t>(t)];
          p.resize(static_cast<size_t>(vis));
          r.status = indexer.ScoreKeys(a.q.data() + i * H * DI, a.w.data() + i * H, H,
                                       (*doc_keys)[static_cast<size_t>(t)].data(), vis, p.data());
          if (!r.status.ok()) return;
          for (int64_t j = 0; j < vis; ++j) {
            p[static_cast<size_t>(j)] = 1.0f / (1.0f + std::exp(-p[static_cast<size_t>(j)]));
            mean[static_cast<size_t>(j)] += p[static_cast<size_t>(j)] / static_cast<float>(nt);
            Count(p[static_cast<size_t>(j)] >= 0.5f, is_pos[static_cast<size_t>(j)],
                  &r.layers[static_cast<size_t>(t)]);
          }
          spans.push_back(absl::MakeConstSpan(p));
        }
        for (int64_t j = 0; j < vis; ++j) {
          Count(mean[static_cast<size_t>(j)] >= 0.5f, is_pos[static_cast<size_t>(j)], &r.ensemble);
        }
        r.n_pos = static_cast<int64_t>(positives.size());
        // recall@k over the mean ensemble (ties toward the lower chunk index).
        const int64_t k = std::min<int64_t>(options.recall_k, vis);
        order.resize(static_cast<size_t>(vis));
        for (int32_t j = 0; j < vis; ++j) order[static_cast<size_t>(j)] = j;
        std::nth_element(order.begin(), order.begin() + (k - 1), order.end(),
                         [&](int32_t x, int32_t y) {
                           const float mx = mean[static_cast<size_t>(x)];
                           const float my = mean[static_cast<size_t>(y)];
                           return mx > my || (mx == my && x < y);
                         });
        for (int64_t j = 0; j < k; ++j)
          r.pos_in_top_k += is_pos[static_cast<size_t>(order[static_cast<size_t>(j)])];
        // The runtime page policy.
        r.status = sched::ComputePageDensity(spans, vis, options.policy.threshold, options.geometry,
                                             &density);
        if (!r.status.ok()) return;
        r.kmax = sched::EffectiveKmaxPages(
            options.policy, sched::PagesForChunks(vis, options.geometry), options.kmax_max_pages);
        r.status = sched::SelectPages(density, vis, options.policy, r.kmax, options.geometry, &sel);
        if (!r.status.ok()) return;
        for (sched::PageIndex page : sel.ascending) {
          const int64_t first = sched::FirstChunkOf(page, options.geometry).v;
          const int64_t end = std::min<int64_t>(first + options.geometry.chunks_per_page, vis);
          for (int64_t j = first; j < end; ++j) {
            ++r.kept;
            r.pos_kept += is_pos[static_cast<size_t>(j)];
          }
        }
        r.visible = vis;
      }
    };
    kernels::cpu::ParallelForOrInline(indexer.thread_pool(), n, 1, score);
    for (const TokenResult& r : results) {
      FM_RETURN_IF_ERROR(r.status);
      if (!r.scored) continue;
      ++out.n_tokens;
      for (int64_t t = 0; t < nt; ++t)
        Add(r.layers[static_cast<size_t>(t)], &out.layers[static_cast<size_t>(t)]);
      Add(r.ensemble, &out.ensemble);
      pos_total += r.n_pos;
      pos_top_k += r.pos_in_top_k;
      pos_kept += r.pos_kept;
      keep_sum += static_cast<double>(r.kept) / static_cast<double>(r.visible);
      out.kmax_pages = std::max(out.kmax_pages, r.kmax);
    }
    b0 = b1;
  }
  for (ClassMetrics& m : out.layers) m.Finish();
  out.ensemble.Finish();
  out.n_positives = pos_total;
  if (pos_total > 0) {
    out.recall_at_k = static_cast<double>(pos_top_k) / static_cast<double>(pos_total);
    out.recall_at_keep = static_cast<double>(pos_kept) / static_cast<double>(pos_total);
  }
  if (out.n_tokens > 0) out.keep_ratio = keep_sum / static_cast<double>(out.n_tokens);
  return out;
}

}  // namespace fm::rt::train
