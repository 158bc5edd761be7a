#pragma once
// The internal pieces of the V4 forward pass shared by sequence.cc, attention.cc, compressor.cc,
// moe.cc and mtp.cc: per-layer sequence state, reusable scratch buffers, and the layer / sublayer
// entry points. All activations are fp32 row-major with one row per token of the current chunk.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "kernels/backend.h"
#include "runtime/model/kv_store.h"
#include "runtime/model/model_impl.h"
#include "runtime/model/model_weights.h"

namespace fm::rt {

// Converts an op's status into an absl::Status naming the op (a failure is a caller bug).
absl::Status OpToStatus(kernels::OpStatus s, const char* op);
#define FM_OP(expr) FM_RETURN_IF_ERROR(::fm::rt::OpToStatus((expr), #expr))

// Grows `v` to at least n elements (never shrinks, so steady-state decode does not allocate) and
// returns its data.
template <typename T>
T* Grow(std::vector<T>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(static_cast<size_t>(n));
  return v.data();
}

// Raw (kv, score) projections of the last `ring_tokens` tokens of one compressor: token p lives in
// ring slot p % ring_tokens. Scores already include the ape bias of the token's chunk offset.
struct CompressorState {
  int64_t ring_tokens = 0;
  int64_t width = 0;          // coff * dim
  std::vector<float> kv;      // [ring_tokens][width]
  std::vector<float> score;   // [ring_tokens][width]
};

// Everything one layer remembers about a sequence.
struct LayerState {
  LayerState(const ModelConfig& c, const LayerWeights& w, KvMode mode, kernels::KernelBackend* be);

  KvStore window;      // sliding window ring, slot p % sliding_window
  KvStore chunk;       // this chunk's new window entries (rows of the current call)
  KvStore compressed;  // compressed entries j (c4 or HCA), empty on SWA-only layers
  KvStore index_keys;  // indexer keys j (CSA layers only)
  CompressorState comp, idx_comp;
  // LSA hooks: h of the last token is copied here when capture_hidden (SetHiddenCapture); the
  // Level-2 trace of the last token is recorded when ForwardArgs::trace_indexer.
  bool capture_hidden = false;
  bool hidden_valid = false;
  std::vector<float> last_hidden;  // [d]
  IndexerTrace trace;
  bool trace_valid = false;
  // Rank of this layer among the decoder's CSA layers (its KV block in an LSA pool slot); -1 on
  // other layers and in the MTP block, which never read the pool.
  int32_t csa_ordinal = -1;
};

// Reusable buffers of one Sequence; every user grows what it needs with Grow().
struct Scratch {
  // Layer level.
  std::vector<float> residual, mixes, u, h, post, comb, y;
  // Attention.
  std::vector<float> qa, cq, q, kv, o, group_in, group_out, o_low;
  std::vector<float> ckv, cscore, pool_values, pool_scores, pooled;
  std::vector<float> iq, iw;
  std::vector<int32_t> selected;   // [T][index_topk]
  std::vector<int64_t> n_selected; // [T]
  std::vector<int64_t> n_cand;     // [query block] Level-2 candidates per query
  // Per query of an attention block: gathered K=V rows, their sources, indexer scores.
  std::vector<std::vector<float>> gather, iscores;
  std::vector<std::vector<int64_t>> sources;
  std::vector<int64_t> n_gathered, task_end;
  // MoE.
  std::vector<float> router, route_w, ex_in, ex_gate, ex_up, ex_out, ex_scale;
  std::vector<int32_t> route_e, hash_rows, ex_rows;
  std::vector<int64_t> ex_count, ex_offset;
};

// The resident set in the form attention reads: mask[j] for j < mask_size, and prefix[k] = number
// of resident chunks among j < k (k <= mask_size), so a query counts its candidates in O(1).
struct Level2Restriction {
  const uint8_t* mask = nullptr;
  int64_t mask_size = 0;
  const int64_t* prefix = nullptr;  // [mask_size + 1]

  bool resident(int64_t j) const { return j < mask_size && mask[j] != 0; }
  // Resident chunks among j < n.
  int64_t count_below(int64_t n) const { return prefix[n < mask_size ? n : mask_size]; }

  // The pool view (ResidentSet::pool), null pool_base without one. CSA layers gather the
  // entries stored before the current call from these cells.
  const uint8_t* pool_base = nullptr;
  int64_t slot_bytes = 0;
  int64_t chunks_per_page = 0;
  const int64_t* block_offset = nullptr;  // [CSA ordinal]
  const int32_t* slot_of_page = nullptr;  // [n_pages]
  int64_t n_pages = 0;
  int64_t entry_bytes = 0;

  bool paged() const { return pool_base != nullptr; }
  // The cell of entry j of the CSA layer with ordinal `csa`, or nullptr when j's page has no slot.
  const uint8_t* cell(int32_t csa, int64_t j) const {
    const int64_t page = j / chunks_per_page;
    if (page >= n_pages || slot_of_page[page] < 0) return nullptr;
    return pool_base + slot_of_page[page] * slot_bytes + block_offset[csa] +
           (j % chunks_per_page) * entry_bytes;
  }
};

struct ForwardArgs {
  const ModelImpl* model = nullptr;
  Scratch* scratch = nullptr;
  int64_t n_rows = 0;
  const int64_t* positions = nullptr;  // [n_rows], consecutive
  const int32_t* tokens = nullptr;     // [n_rows]
  const Level2Restriction* resident = nullptr;  // nullptr = full mode
  bool trace_indexer = false;             // record LayerState::trace
};

// One decoder layer (or MTP block layer) on x [n_rows][hc][d], in place.
absl::Status LayerForward(const ForwardArgs& a, const LayerWeights& w, LayerState& st, float* x);

// mHC pre-mix (mixes = fn·x into `mixes_buf`, then HcPre) followed by the RMSNorm `norm`:
// h [n_rows][d]. A sublayer passes post/comb (for HcPost); the final hc_head passes nullptr for both.
absl::Status HcMixAndNorm(const ModelImpl* model, const HcWeights& hc, const std::vector<float>& norm,
                          const float* x, int64_t n_rows, std::vector<float>& mixes_buf, float* h,
                          float* post, float* comb);

// mHC pre-mix of a sublayer followed by its RMSNorm: h [n_rows][d]; post/comb for HcPost.
absl::Status SublayerInput(const ForwardArgs& a, const HcWeights& hc, const std::vector<float>& norm,
                           const float* x, float* h, float* post, float* comb);

// Attention sublayer: h [n_rows][d] -> out [n_rows][d]. Updates the layer's window, compressor
// states, compressed entries and index keys.
absl::Status AttentionForward(const ForwardArgs& a, const LayerWeights& w, LayerState& st,
                              const float* h, float* out);

// The window K=V projection of h: kv [n_rows][head_dim] = RoPE(kv_norm(wkv h)). Shared by the
// attention sublayer and the MTP window catch-up.
absl::Status ProjectWindowKv(const ForwardArgs& a, const LayerWeights& w, const float* h, float* kv);

// Runs one compressor over the chunk: projects h, appends to the state ring and emits every
// entry completed by these tokens into `cache` (rotate: Hadamard after RoPE, for index keys).
absl::Status CompressorForward(const ForwardArgs& a, const CompressorWeights& w, CompressorState& st,
                               KvStore& cache, bool rotate, const float* h);

// MoE sublayer: h [n_rows][d] -> out [n_rows][d].
absl::Status MoeForward(const ForwardArgs& a, const MoeWeights& w, const float* h, float* out);

}  // namespace fm::rt
