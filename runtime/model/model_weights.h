#pragma once
// Resolved weights of a DeepSeek-V4 checkpoint: every tensor of every decoder layer and MTP block,
// looked up once at load with its expected shape (CHECKPOINT_FORMAT.md §3). Matrices stay views
// into the mapped checkpoint in their stored format; small float parameters (norms, mHC, ape,
// sinks, biases) are converted to fp32 copies. Structs are move-only: views point into the
// vectors' heap buffers, which a move keeps in place.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/weight_view.h"
#include "runtime/config/model_config.h"
#include "runtime/weights/checkpoint.h"

namespace fm::rt {

// An mHC parameter set (pre/post/comb for a sublayer, or pre only for a head).
struct HcWeights {
  std::vector<float> fn;      // [n_mix][n_hc * d]
  kernels::WeightView fn_view;  // fp32 view of `fn`
  std::vector<float> base;    // [n_mix]
  std::vector<float> scale;   // [3] or [1]
  int64_t n_mix = 0;
};

// A KV compressor (attention or indexer): softmax pooling over `ratio` (x2 overlapping when
// coff == 2) token projections, then RMSNorm and RoPE at the chunk start.
struct CompressorWeights {
  int64_t ratio = 0;
  int64_t coff = 1;   // 2 for the overlapping ratio-4 compressor
  int64_t dim = 0;    // output entry width (head_dim or index_head_dim)
  kernels::WeightView wkv, wgate;  // [coff*dim, d]
  std::vector<float> ape;          // [ratio][coff*dim]
  std::vector<float> norm;         // [dim]
};

struct AttentionWeights {
  kernels::WeightView wq_a, wq_b, wkv, wo_b;
  std::vector<kernels::WeightView> wo_a_groups;  // one [o_lora_rank, H*D/G] view per group
  std::vector<float> wo_a_f32;                   // dequantised wo_a when its blocks straddle groups
  std::vector<float> q_norm, kv_norm, attn_sink;
  bool has_compressor = false;
  CompressorWeights compressor;
  bool has_indexer = false;
  kernels::WeightView idx_wq_b, idx_weights_proj;
  CompressorWeights idx_compressor;
};

struct ExpertWeights {
  kernels::WeightView w1, w2, w3;  // gate, down, up
};

struct MoeWeights {
  kernels::WeightView gate;        // [E, d]
  std::vector<float> gate_bias;    // [E] (learned routing) or empty
  std::vector<int32_t> tid2eid;    // [V][k] (hash routing) or empty
  bool hash = false;
  std::vector<ExpertWeights> experts;
  bool has_shared = false;
  ExpertWeights shared;
};

struct LayerWeights {
  int64_t index = 0;   // decoder layer, or num_hidden_layers + m for MTP block m
  int64_t ratio = 0;   // compress ratio
  std::vector<float> attn_norm, ffn_norm;
  HcWeights hc_attn, hc_ffn;
  AttentionWeights attn;
  MoeWeights ffn;
};

struct MtpWeights {
  LayerWeights layer;
  kernels::WeightView e_proj, h_proj;
  std::vector<float> enorm, hnorm, norm;
  HcWeights hc_head;
};

struct ModelWeights {
  kernels::WeightView embed, head;
  std::vector<float> norm;
  HcWeights hc_head;
  std::vector<LayerWeights> layers;
  std::vector<MtpWeights> mtp;
};

// Resolves every tensor the forward pass reads. Errors name the tensor (and the checkpoint's file
// via the loader) and the layer. Unimplemented for configurations the forward pass does not cover
// (e.g. an MTP block with a compressed layer), naming the key.
absl::StatusOr<ModelWeights> LoadModelWeights(const Checkpoint& checkpoint);

// A view of rows [row0, row0 + n_rows) of `w`, or nullopt-like failure (returns false) when the
// format's block scales would straddle the cut (FP8 blocks of 128 rows).
bool RowSliceView(const kernels::WeightView& w, int64_t row0, int64_t n_rows,
                  kernels::WeightView* out);

}  // namespace fm::rt
