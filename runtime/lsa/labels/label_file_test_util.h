#pragma once
// A small deterministic label document and its writer, shared by the label-file tests.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "runtime/lsa/labels/label_file.h"

namespace fm::rt::labels::testing {

inline LabelFileHeader SmallHeader(HiddenDtype dtype) {
  LabelFileHeader h;
  h.hidden_size = 8;
  h.index_head_dim = 4;
  h.index_n_heads = 2;
  h.tokens_per_chunk = 4;
  h.n_csa_layers = 3;
  h.targets = {{0, 1}, {2, 5}};
  h.constants = {16, 0.5f, 2};
  h.hidden_dtype = dtype;
  h.n_prompt_tokens = 20;
  h.source = "unit test";
  return h;
}

// A small document with deterministic contents.
struct Doc {
  std::vector<std::vector<float>> hidden;  // [token][targets * hidden]
  std::vector<std::vector<GoldenChunk>> labels;
  std::vector<float> keys;  // [targets][chunks][dim]
  int64_t n_chunks = 0;
};

inline Doc MakeDoc(const LabelFileHeader& h, int64_t n_tokens, int64_t n_chunks) {
  Doc d;
  d.n_chunks = n_chunks;
  const int64_t nt = static_cast<int64_t>(h.targets.size());
  for (int64_t t = 0; t < n_tokens; ++t) {
    std::vector<float> hid(static_cast<size_t>(nt * h.hidden_size));
    for (size_t i = 0; i < hid.size(); ++i)
      hid[i] = 0.37f * static_cast<float>(t) - 0.011f * static_cast<float>(i * i);
    d.hidden.push_back(hid);
    std::vector<GoldenChunk> lab;
    const int64_t n_blk = (h.n_prompt_tokens + t + 1) / 4;
    for (int64_t k = 0; k < t % 4; ++k)
      lab.push_back({static_cast<int32_t>((t * 3 + k) % n_blk), static_cast<int32_t>(3 - k % 3)});
    d.labels.push_back(lab);
  }
  d.keys.resize(static_cast<size_t>(nt * n_chunks * h.index_head_dim));
  for (size_t i = 0; i < d.keys.size(); ++i) d.keys[i] = 0.5f - 0.003f * static_cast<float>(i);
  return d;
}

inline absl::Status WriteDoc(const std::filesystem::path& path, const LabelFileHeader& h, const Doc& d) {
  auto w = LabelFileWriter::Create(path, h);
  if (!w.ok()) return w.status();
  const size_t hs = static_cast<size_t>(h.hidden_size);
  for (size_t t = 0; t < d.hidden.size(); ++t) {
    std::vector<absl::Span<const float>> rows;
    for (size_t k = 0; k < h.targets.size(); ++k)
      rows.push_back(absl::MakeConstSpan(d.hidden[t]).subspan(k * hs, hs));
    if (absl::Status s = (*w)->AppendToken(h.n_prompt_tokens + static_cast<int64_t>(t),
                                           100 + static_cast<int32_t>(t), rows, d.labels[t]);
        !s.ok())
      return s;
  }
  const size_t per_target = static_cast<size_t>(d.n_chunks * h.index_head_dim);
  for (size_t k = 0; k < h.targets.size(); ++k) {
    // Two calls per target: keys arrive in blocks.
    const int64_t first = d.n_chunks / 2;
    const float* base = d.keys.data() + k * per_target;
    if (absl::Status s = (*w)->AppendIndexKeys(static_cast<int64_t>(k), base, first); !s.ok())
      return s;
    if (absl::Status s = (*w)->AppendIndexKeys(static_cast<int64_t>(k),
                                               base + first * h.index_head_dim, d.n_chunks - first);
        !s.ok())
      return s;
  }
  return (*w)->Finish();
}

}  // namespace fm::rt::labels::testing
