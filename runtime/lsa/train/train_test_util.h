#pragma once
// Test helpers for runtime/lsa/train: the tiny model's config, random retriever weights, a
// random in-memory corpus (random h / keys / golden chunks) and writing a corpus to label files.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/lsa/labels/label_file.h"
#include "runtime/lsa/memory_indexer.h"
#include "runtime/lsa/train/train_corpus.h"
#include "runtime/lsa/train/trainer.h"
#include "runtime/weights/synth.h"

namespace fm::rt::train::testing {

inline ModelConfig TinyModelConfig() {
  SynthOptions o;
  o.preset = "tiny";
  auto c = SynthConfig(o);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

inline std::vector<float> RandomVec(size_t n, std::mt19937_64& rng, float scale) {
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

// Random retriever weights of rank R and H heads for CSA index `csa` of `c`.
inline RetrieverWeights RandomRetriever(const ModelConfig& c, int64_t csa, int64_t R, int64_t H,
                                        std::mt19937_64& rng) {
  RetrieverWeights w;
  w.csa_index = csa;
  w.model_layer = CsaModelLayers(c)[static_cast<size_t>(csa)];
  w.rank = R;
  w.n_heads = H;
  const size_t d = static_cast<size_t>(c.hidden_size), DI = static_cast<size_t>(c.index_head_dim);
  w.wq_a = RandomVec(static_cast<size_t>(R) * d, rng, 0.15f);
  w.q_norm = RandomVec(static_cast<size_t>(R), rng, 0.3f);
  for (float& g : w.q_norm) g += 1.0f;
  w.wq_b = RandomVec(static_cast<size_t>(H * R) * DI, rng, 0.25f);
  w.weights_proj = RandomVec(static_cast<size_t>(H) * d, rng, 0.5f);
  return w;
}

// An indexer over CSA layers 0 and 1 with random weights (rank R, H heads, layer 0 drawn first
// from a generator seeded with `seed`); null after a (reported) failure.
inline std::unique_ptr<MemoryIndexer> RandomTwoTargetIndexer(const ModelConfig& c, int64_t R,
                                                             int64_t H, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<RetrieverWeights> layers;
  layers.push_back(RandomRetriever(c, 0, R, H, rng));
  layers.push_back(RandomRetriever(c, 1, R, H, rng));
  auto mi = MemoryIndexer::FromWeights(c, std::move(layers));
  EXPECT_TRUE(mi.ok()) << mi.status();
  return mi.ok() ? std::move(*mi) : nullptr;
}

// The small runs of the trainer and feature-store tests: tau 6, 2 epochs of batches of 8, lr
// 3e-3, the last quarter of each document held out, a Level-1 policy of 4-chunk pages.
inline TrainOptions SmallTrainOptions() {
  TrainOptions o;
  o.sampling.tau = 6;
  o.epochs = 2;
  o.batch = 8;
  o.adam.lr = 3e-3;
  o.val_fraction = 0.25;
  o.validation.geometry.chunks_per_page = 4;
  o.validation.policy.kmax_pages = 4;
  o.validation.policy.tail_chunks = 4;
  return o;
}

// Every weight of every target bit-identical.
inline void ExpectSameWeights(const MemoryIndexer& a, const MemoryIndexer& b) {
  ASSERT_EQ(a.n_targets(), b.n_targets());
  for (int64_t t = 0; t < a.n_targets(); ++t) {
    EXPECT_EQ(a.target(t).wq_a, b.target(t).wq_a) << "target " << t;
    EXPECT_EQ(a.target(t).q_norm, b.target(t).q_norm) << "target " << t;
    EXPECT_EQ(a.target(t).wq_b, b.target(t).wq_b) << "target " << t;
    EXPECT_EQ(a.target(t).weights_proj, b.target(t).weights_proj) << "target " << t;
  }
}

// One document of T decode tokens over n_chunks chunks: three random golden chunks (< 20) per
// token, random h and keys for each CSA index in `csa`.
inline TrainCorpus RandomCorpus(const ModelConfig& c, const std::vector<int64_t>& csa, int64_t T,
                                int64_t n_chunks, std::mt19937_64& rng) {
  TrainCorpus corpus;
  for (int64_t x : csa) corpus.targets.push_back({x, CsaModelLayers(c)[static_cast<size_t>(x)]});
  corpus.hidden_size = c.hidden_size;
  corpus.index_head_dim = c.index_head_dim;
  TrainDocument doc;
  doc.name = "random";
  doc.labels.n_chunks = n_chunks;
  doc.labels.ptr.push_back(0);
  for (int64_t t = 0; t < T; ++t) {
    doc.labels.positions.push_back(4 * n_chunks - T + t);
    doc.labels.visible.push_back(std::min<int64_t>(n_chunks, (4 * n_chunks - T + t + 1) / 4));
    for (int k = 0; k < 3; ++k) doc.labels.chunks.push_back(static_cast<int32_t>(rng() % 20));
    doc.labels.ptr.push_back(static_cast<int64_t>(doc.labels.chunks.size()));
  }
  MarkTrivialChunks(&doc.labels, 0.8);
  doc.hidden = RandomVec(static_cast<size_t>(T * static_cast<int64_t>(csa.size()) * c.hidden_size),
                         rng, 1.0f);
  for (size_t i = 0; i < csa.size(); ++i) {
    doc.keys.push_back(RandomVec(static_cast<size_t>(n_chunks * c.index_head_dim), rng, 0.6f));
  }
  corpus.documents.push_back(std::move(doc));
  return corpus;
}

// A corpus of `n_docs` documents like RandomCorpus's, each drawn from `rng` in turn.
inline TrainCorpus RandomCorpusOfDocuments(const ModelConfig& c, const std::vector<int64_t>& csa,
                                           int64_t n_docs, int64_t T, int64_t n_chunks,
                                           std::mt19937_64& rng) {
  TrainCorpus corpus = RandomCorpus(c, csa, T, n_chunks, rng);
  for (int64_t i = 1; i < n_docs; ++i) {
    TrainCorpus more = RandomCorpus(c, csa, T, n_chunks, rng);
    corpus.documents.push_back(std::move(more.documents[0]));
  }
  for (size_t i = 0; i < corpus.documents.size(); ++i) {
    corpus.documents[i].name = "random" + std::to_string(i);
  }
  return corpus;
}

// Writes every in-memory document of `corpus` to dir/doc_NNN.fmlabels (votes = 1), in order.
inline void WriteLabelFiles(const ModelConfig& c, const TrainCorpus& corpus,
                            const std::filesystem::path& dir,
                            int64_t key_block_rows = labels::kDefaultKeyBlockRows) {
  labels::LabelFileHeader h;
  h.key_block_rows = key_block_rows;
  h.hidden_size = c.hidden_size;
  h.index_head_dim = c.index_head_dim;
  h.index_n_heads = c.index_n_heads;
  h.n_csa_layers = static_cast<int64_t>(CsaModelLayers(c).size());
  h.targets = corpus.targets;
  h.constants.min_layers = 1;
  const int64_t d = c.hidden_size, nt = corpus.n_targets();
  for (size_t i = 0; i < corpus.documents.size(); ++i) {
    const TrainDocument& src = corpus.documents[i];
    std::string name = std::to_string(i);
    name = "doc_" + std::string(3 - std::min<size_t>(3, name.size()), '0') + name + ".fmlabels";
    auto w = labels::LabelFileWriter::Create(dir / name, h);
    ASSERT_TRUE(w.ok()) << w.status();
    for (int64_t t = 0; t < src.labels.n_tokens(); ++t) {
      std::vector<absl::Span<const float>> hid;
      for (int64_t k = 0; k < nt; ++k) {
        hid.push_back(absl::MakeConstSpan(src.token_hidden(t, k, nt, d), static_cast<size_t>(d)));
      }
      std::vector<labels::GoldenChunk> g;
      for (int64_t j = src.labels.ptr[static_cast<size_t>(t)];
           j < src.labels.ptr[static_cast<size_t>(t + 1)]; ++j) {
        g.push_back({src.labels.chunks[static_cast<size_t>(j)], 1});
      }
      ASSERT_TRUE((*w)->AppendToken(src.labels.positions[static_cast<size_t>(t)], 1, hid, g).ok());
    }
    for (int64_t k = 0; k < nt; ++k) {
      ASSERT_TRUE(
          (*w)->AppendIndexKeys(k, src.keys[static_cast<size_t>(k)].data(), src.labels.n_chunks)
              .ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
  }
}

}  // namespace fm::rt::train::testing
