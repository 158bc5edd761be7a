#pragma once
// The standard counter and zone names (DESIGN.md §6), shared by the runtime that emits them, the
// synthetic trace and the profiler UI that looks them up. Units come from the suffix: _bytes,
// _ns, _count.

namespace fm::traces::names {

// Counters.
inline constexpr char kHotSlotsUsed[] = "hot_slots_used_count";    // pool occupancy
inline constexpr char kInflightBytes[] = "inflight_bytes";         // H2D bytes issued, not landed
inline constexpr char kH2dBytes[] = "h2d_bytes";                   // cumulative: link throughput
inline constexpr char kD2hBytes[] = "d2h_bytes";                   // cumulative write-back bytes
inline constexpr char kPageHits[] = "page_hits_count";             // selected pages already hot
inline constexpr char kPageMisses[] = "page_misses_count";         // selected pages fetched
inline constexpr char kEvictions[] = "evictions_count";
inline constexpr char kPublishStall[] = "publish_stall_ns";
inline constexpr char kPublishSlips[] = "publish_slips_count";
inline constexpr char kCycleOverruns[] = "cycle_overruns_count";
inline constexpr char kPagesTruncated[] = "pages_truncated_count";
inline constexpr char kTokens[] = "tokens_count";

}  // namespace fm::traces::names
