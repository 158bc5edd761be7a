#pragma once
// Snapshot frames: the periodic full state (pools, params, requests, residency, latency
// histograms) that lets a client joining late, or a replay seeking, start from a consistent picture
// (DESIGN.md §7). The runtime builds a Snapshot at a cycle boundary and posts it to the Collector.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace fm::traces {

struct PoolsSection {
  uint64_t slot_bytes = 0;
  uint32_t slots_total = 0;
  uint32_t slots_used = 0;
  uint32_t slots_fetching = 0;
  uint32_t slots_dirty = 0;
  uint64_t cold_used_bytes = 0;
  uint64_t cold_total_bytes = 0;
  friend bool operator==(const PoolsSection&, const PoolsSection&) = default;
};

struct ParamsSection {
  uint32_t tau_steps = 0;
  uint32_t delta_steps = 0;
  double threshold = 0;
  uint32_t kmax_pages = 0;
  uint32_t kmax_max_pages = 0;
  uint32_t tail_pages = 0;
  uint8_t sink = 0;      // 1: the attention-sink page is always selected
  uint8_t ensemble = 0;  // Level-1 ensemble mode (0 = max over target layers)
  friend bool operator==(const ParamsSection&, const ParamsSection&) = default;
};

struct RequestRow {
  uint32_t id = 0;
  uint32_t row = 0;
  uint64_t context_tokens = 0;
  uint32_t pages = 0;
  uint32_t phase = 0;
  uint32_t generation = 0;
  friend bool operator==(const RequestRow&, const RequestRow&) = default;
};

// Residency of one request: one PageState byte per logical page and, when l2_layers > 0, the
// Level-2 use count of each page on each CSA layer (page-major: l2_use[page * l2_layers + layer]).
struct ResidencyEntry {
  uint32_t request_id = 0;
  std::vector<uint8_t> page_states;
  uint8_t l2_layers = 0;
  std::vector<uint8_t> l2_use;
  friend bool operator==(const ResidencyEntry&, const ResidencyEntry&) = default;
};

// log2 buckets with 8 linear sub-buckets: values 0..7 are exact, then each power of two is cut in
// eight, so any bucket's width is at most 1/8 of its lower bound (12.5 % resolution).
inline constexpr int kLatencyBuckets = 8 + 61 * 8;
int LatencyBucketOf(uint64_t ns);
uint64_t LatencyBucketLowerNs(int bucket);

struct LatencyHistograms {
  std::vector<uint64_t> fetch_ns;  // counts per bucket (size <= kLatencyBuckets)
  std::vector<uint64_t> copy_ns;
  void Add(std::vector<uint64_t>* hist, uint64_t ns);  // grows `hist` to the bucket as needed
  friend bool operator==(const LatencyHistograms&, const LatencyHistograms&) = default;
};

struct Snapshot {
  uint32_t snapshot_id = 0;
  uint16_t part = 0;   // parts of one snapshot share snapshot_id; residency is split across them
  uint16_t parts = 1;
  int64_t t_ns = 0;
  std::optional<PoolsSection> pools;
  std::optional<ParamsSection> params;
  std::optional<std::vector<RequestRow>> requests;
  std::vector<ResidencyEntry> residency;  // empty: no Residency section
  std::optional<LatencyHistograms> latency;
  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

// Encodes `s` into one or more payloads (each <= kMaxPayloadBytes). Residency entries that do not
// fit in the first part go to further parts with the same snapshot_id; s.part/s.parts are ignored
// and set per payload. An entry too large for any payload loses its l2_use first, then trailing
// pages, so a pathological request never breaks the stream.
std::vector<std::vector<uint8_t>> EncodeSnapshot(const Snapshot& s);

// Decodes one part. Unknown section types are skipped by length.
absl::StatusOr<Snapshot> DecodeSnapshot(std::span<const uint8_t> payload);

}  // namespace fm::traces
