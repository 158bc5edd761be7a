#pragma once
// Capacity model: where each KV byte lives and how much GPU memory a request needs, with and
// without LSA (DESIGN.md §2.1-§2.3, spec §3.3). Pure functions of a config; `flashmem plan` prints
// them and tests pin the published figures (3850.25 B/token; 15,955.85 B/token SGLang admission at
// swa ratio 0.1).

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scheduler/geometry.h"

namespace fm::sched {

// Model sizes the capacity model needs. Defaults are V4-Flash (spec §1, §3).
struct CapacityConfig {
  GeometryConfig geometry;          // CSA layers, entry bytes, page and slot sizes
  int32_t hca_layers = 20;          // c128 layers (KV always on the GPU)
  int32_t c128_ratio = 128;         // tokens per c128 entry
  int32_t swa_layers = 44;          // len(compress_ratios): every layer has a SWA window
  int32_t swa_window_tokens = 128;  // also the SWA page that addresses compressor states
  int32_t target_layers = 3;        // Level-1 scorer layers (10, 12, 20): index keys stay on GPU
  // Compressor state rings, per layer: entries x bytes per entry (spec §3.2).
  int32_t c4_state_entries = 8;
  int32_t c4_state_entry_bytes = 8192;  // 4 x 512 x fp32
  int32_t c4_index_state_entries = 8;
  int32_t c4_index_state_entry_bytes = 2048;  // 4 x 128 x fp32
  int32_t c128_state_entries = 128;
  int32_t c128_state_entry_bytes = 4096;   // 2 x 512 x fp32
  int32_t c128_online_state_bytes = 6144;  // online c128: one (max, sum, kv) slot per layer
  bool online_c128 = true;                 // flashmem's default (DESIGN.md §2.1)

  // InvalidArgument naming the field when a count or size is not positive.
  absl::Status Validate() const;
};

// Compressed KV bytes per context token, by component (steady state, no padding).
struct BytesPerToken {
  double c4_kv = 0;                 // csa_layers * kv_entry / 4 = 3066
  double c4_index_keys_target = 0;  // target layers' index keys = 99
  double c4_index_keys_other = 0;   // the other CSA layers' index keys = 594
  double c128_kv = 0;               // hca_layers * kv_entry / 128 = 91.25
  double total() const { return c4_kv + c4_index_keys_target + c4_index_keys_other + c128_kv; }
};
BytesPerToken ComputeBytesPerToken(const CapacityConfig& c);

// Bytes per request that do not depend on its length: SWA windows plus compressor states
// (≈ 5.1 MB with online c128).
int64_t PerRequestFixedBytes(const CapacityConfig& c);

// SGLang's per-token admission budget (DSv4MemoryCalculator.get_bytes_per_full_token) at
// swa_full_tokens_ratio `swa_ratio`, non-MTP: 3850.25 + 121,056 r (ring c128) or
// 3850.25 + 40,096 r (online c128).
double SglangAdmissionBytesPerToken(const CapacityConfig& c, double swa_ratio);

// Where a request's GPU bytes go.
enum class IndexKeyPlacement { kGpuFull, kPaged };  // DESIGN.md §2.1: default vs Path-I
struct RequestGpuBytes {
  int64_t length_dependent_bytes = 0;  // KV that grows with the context and stays on the GPU
  int64_t hot_slot_bytes = 0;          // (kmax + 2) slots; 0 when all-resident
  int64_t fixed_bytes = 0;             // SWA + compressor states
  int64_t cold_bytes = 0;              // pinned host bytes (c4 KV, plus paged index keys)
  int64_t total_gpu_bytes() const { return length_dependent_bytes + hot_slot_bytes + fixed_bytes; }
};
// All-resident: every compressed byte on the GPU.
RequestGpuBytes GpuBytesAllResident(const CapacityConfig& c, int64_t context_tokens);
// LSA: c4 KV (and, with kPaged, the non-target index keys) in the cold pool; kmax + 2 hot slots.
RequestGpuBytes GpuBytesWithLsa(const CapacityConfig& c, int64_t context_tokens, int32_t kmax_pages,
                                IndexKeyPlacement placement);

// Slot sizing rule (DESIGN.md §2.2): ceil(Σ_r (kmax_r + 2) * (1 + headroom)). InvalidArgument when
// headroom < 0 or a kmax is negative.
absl::StatusOr<int64_t> SlotsNeeded(const std::vector<int32_t>& kmax_pages_per_request,
                                    double headroom);

// Time to move `bytes` over a link of `gbps` (1 GB/s = 1 byte/ns), in ns.
inline double TransferNs(int64_t bytes, double gbps) { return static_cast<double>(bytes) / gbps; }

}  // namespace fm::sched
