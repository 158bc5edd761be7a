#pragma once
// The GPU decode step as data (DESIGN.md §4, issue 8): where every byte of one decode step for a
// batch of B requests lives, and in which order the streams run and wait. Plain C++ (no CUDA), so
// the layout and the ordering are unit-tested on machines without a GPU; gpu_decode.cc carries
// both out.
//
// Layout: ONE device allocation, cut into regions at fixed offsets (kDecodeAlign-aligned), made
// before graph capture and never moved, so a captured graph can keep every address. It holds:
//  - control buffers the host writes between steps (token ids, positions, row validity, the
//    per-request page -> hot-slot LUT, resident page counts, the LSA switch per row);
//  - per-request state (window ring, compressor rings, compressed stores, index keys);
//  - every op's activations and scratch, sized from ModelConfig for B rows;
//  - the TopK workspace, and the weights' device copies (sized by the caller, packed formats kept).
// A cycle change writes the control buffers only (cudaMemcpyAsync on the compute stream), never
// re-allocates and never re-captures.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/config/model_config.h"

namespace fm::rt::cuda {

inline constexpr int64_t kDecodeAlign = 256;   // every region starts at a multiple of this
inline constexpr int64_t kChunksPerPage = 64;  // c4 chunks per LSA page (DESIGN.md §1 words)

// The batch shape a step (and its graph) is built for.
struct DecodeStepShape {
  int64_t batch = 1;         // B request rows
  int64_t max_context = 0;   // positions per row are < max_context (sizes every store)
  bool fp8_kv = true;        // KV entries in the production FP8 codecs (else fp32 entries)
  int64_t weight_bytes = 0;  // the weights' device copies (the caller sums them, aligned)
  int64_t topk_workspace_bytes = 0;
};

// One region of the arena.
struct DecodeRegion {
  std::string name;
  int64_t offset = 0;
  int64_t bytes = 0;
};

// The per-layer state regions (offsets into the arena; -1 when the layer has no such state).
struct DecodeLayerRegions {
  int64_t ratio = 0;         // compress ratio (0: SWA only)
  bool csa = false;          // has the Lightning indexer (ratio 4)
  int32_t csa_ordinal = -1;  // rank among the CSA layers: its KV block in a hot-pool slot
  int64_t window = -1;       // [B][W][entry]
  int64_t comp_kv = -1, comp_score = -1;  // [B][coff*ratio][coff*D] fp32 rings
  int64_t compressed = -1;                // [B][max_context/ratio][entry]
  int64_t idx_kv = -1, idx_score = -1;    // [B][8][2*DI] fp32 rings (CSA)
  int64_t index_keys = -1;                // [B][max_context/4][index entry] (CSA)
  int64_t comp_capacity = 0;              // entries per row of `compressed`
};

// Named activation / control regions (offsets into the arena).
struct DecodeActivations {
  // Control (host-written between steps).
  int64_t tokens = -1;          // int32 [B]
  int64_t positions = -1;       // int64 [B] position of this step's token (advanced in-graph)
  int64_t row_valid = -1;       // int32 [B]
  int64_t lsa_rows = -1;        // int32 [B]: 1 = Level 2 restricted to the LUT's pages
  int64_t lut = -1;             // int32 [B][n_pages] page -> hot slot, -1 when not resident
  int64_t resident_pages = -1;  // int32 [B] pages with a slot (the LUT's count, for telemetry)
  int64_t block_offset = -1;    // int64 [n_csa] KV block of each CSA layer inside a slot
  // Residual streams and the sublayer plumbing.
  int64_t x = -1, residual = -1, mixes = -1, h = -1, post = -1, comb = -1, y = -1;
  // Attention.
  int64_t cq = -1, q = -1, kv = -1, kv_entry = -1, ckv = -1, cscore = -1;
  int64_t pool_values = -1, pool_scores = -1, pooled = -1, pooled_entry = -1, chunk_pos = -1;
  int64_t iq = -1, iw = -1, iscores = -1, selected = -1, sources = -1, n_sources = -1;
  int64_t gather = -1, attn_logits = -1, o = -1, group_in = -1, group_out = -1, o_low = -1;
  // MoE.
  int64_t router = -1, route_e = -1, route_w = -1, hash_rows = -1, ex_scale = -1;
  int64_t ex_gate = -1, ex_up = -1, ex_out = -1, moe_out = -1;
  // Routed experts by device-side expert id: per (row, slot) pair activations, and every layer's
  // [n_experts][3] WeightView array (device pointers) that the routed GEMV indexes.
  int64_t pair_gate = -1, pair_up = -1, pair_out = -1, expert_views = -1;
  // Head and sampling.
  int64_t head_y = -1, head_mix = -1, logits = -1, next_token = -1;
  int64_t topk_workspace = -1;
  int64_t weights = -1;
};

struct DecodeStepPlan {
  DecodeStepShape shape;
  int64_t n_pages = 0;  // LUT entries per row: ceil(max_context/4 / kChunksPerPage)
  int64_t n_csa = 0;
  int64_t kv_entry_bytes = 0, index_entry_bytes = 0;
  int64_t max_sources = 0;     // window + max(index_topk, HCA entries) per row
  int64_t max_comp_width = 0;  // widest compressor projection (coff * dim)
  int64_t max_pool_slots = 0;  // widest pooling (coff * ratio)
  int64_t max_comp_dim = 0;    // widest compressed entry (head_dim or index_head_dim)
  std::vector<DecodeLayerRegions> layers;
  DecodeActivations act;
  std::vector<DecodeRegion> regions;  // every region, in offset order
  int64_t total_bytes = 0;
};

// Lays out one decode step for `shape` over the decoder layers of `c` (MTP blocks excluded).
// InvalidArgument names the field when the shape or config cannot be laid out (B < 1, a context
// beyond max_position_embeddings, or not a multiple of the largest compress ratio).
absl::StatusOr<DecodeStepPlan> PlanDecodeStep(const ModelConfig& c, const DecodeStepShape& shape);

// Round up to kDecodeAlign.
constexpr int64_t AlignDecode(int64_t bytes) {
  return (bytes + kDecodeAlign - 1) / kDecodeAlign * kDecodeAlign;
}

// ---- Stream / event ordering of one step ------------------------------------------------------

enum class DecodeStream : uint8_t { kCompute = 0, kH2d, kD2h };
enum class DecodeStreamOp : uint8_t {
  kWaitEvent,      // cudaStreamWaitEvent on the event recorded by record `waits_on`
  kStagePages,     // H2D of the next generation's missing pages into their hot slots
  kRecordCopy,     // E_copy[g]: the staged pages have landed
  kPublishLut,     // cudaMemcpyAsync of the new LUT into the fixed LUT buffer (the flip)
  kRecordPublish,  // E_publish[g]: later slot writes wait for it (invariant 3)
  kLaunchStep,     // the step: cudaGraphLaunch, or the eager op sequence
  kRecordStep,     // E_step[t]
  kReadTokens,     // async D2H of next_token into the pinned token ring
  kOffloadTail,    // D2H of completed tail pages to the cold pool
};
const char* DecodeStreamName(DecodeStream s);
const char* DecodeStreamOpName(DecodeStreamOp op);

struct DecodeOrderRecord {
  DecodeStream stream = DecodeStream::kCompute;
  DecodeStreamOp op = DecodeStreamOp::kLaunchStep;
  int32_t waits_on = -1;  // kWaitEvent: index of the record whose event is awaited
};

// What happens around step t: a generation's pages to stage (the planner issued them), its
// publish (the copy was issued and the step is b_k + Δ), completed tail pages to write back.
struct DecodeStepEvents {
  bool stage = false;
  bool publish = false;
  bool offload = false;
};

// The records of one step in submission order. A publish always waits on the copy event of the
// same generation when that copy is staged in this step's list; otherwise it waits on the copy
// event recorded earlier (kWaitEvent with waits_on = -2: "the last kRecordCopy issued").
std::vector<DecodeOrderRecord> PlanStepOrder(const DecodeStepEvents& events);

// Checks the invariants of DESIGN.md §4-§5 on a record list: a kPublishLut on compute is preceded
// by a compute wait on a kRecordCopy (copy before publish); kStagePages is preceded by an h2d wait
// on a kRecordPublish or the previous generation's publish (-3, slot reuse); kOffloadTail waits on
// a kRecordStep; every wait names an earlier record of the right kind on another stream; and there
// is no host wait anywhere (the list has no such op by construction). FailedPrecondition names the
// offending record.
absl::Status CheckStepOrder(const std::vector<DecodeOrderRecord>& records);

// Sentinels of DecodeOrderRecord::waits_on for events recorded in an earlier step.
inline constexpr int32_t kWaitPreviousCopy = -2;
inline constexpr int32_t kWaitPreviousPublish = -3;

}  // namespace fm::rt::cuda
