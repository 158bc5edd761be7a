#include "scheduler/capacity.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace fm::sched {

absl::Status CapacityConfig::Validate() const {
  if (absl::Status s = geometry.Validate(); !s.ok()) return s;
  const std::pair<const char*, int64_t> fields[] = {
      {"hca_layers", hca_layers},
      {"c128_ratio", c128_ratio},
      {"swa_layers", swa_layers},
      {"swa_window_tokens", swa_window_tokens},
      {"target_layers", target_layers},
      {"c4_state_entries", c4_state_entries},
      {"c4_state_entry_bytes", c4_state_entry_bytes},
      {"c4_index_state_entries", c4_index_state_entries},
      {"c4_index_state_entry_bytes", c4_index_state_entry_bytes},
      {"c128_state_entries", c128_state_entries},
      {"c128_state_entry_bytes", c128_state_entry_bytes},
      {"c128_online_state_bytes", c128_online_state_bytes}};
  for (auto [field, value] : fields) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("CapacityConfig.%s: %d, expected > 0", field, value));
    }
  }
  if (target_layers > geometry.csa_layers) {
    return absl::InvalidArgumentError(
        absl::StrFormat("CapacityConfig.target_layers: %d, expected <= csa_layers %d",
                        target_layers, geometry.csa_layers));
  }
  return absl::OkStatus();
}

BytesPerToken ComputeBytesPerToken(const CapacityConfig& c) {
  const GeometryConfig& g = c.geometry;
  const double per_c4 = 1.0 / g.tokens_per_chunk;
  BytesPerToken b;
  b.c4_kv = static_cast<double>(g.csa_layers) * g.kv_entry_bytes * per_c4;
  b.c4_index_keys_target = static_cast<double>(c.target_layers) * g.index_key_entry_bytes * per_c4;
  b.c4_index_keys_other =
      static_cast<double>(g.csa_layers - c.target_layers) * g.index_key_entry_bytes * per_c4;
  b.c128_kv = static_cast<double>(c.hca_layers) * g.kv_entry_bytes / c.c128_ratio;
  return b;
}

int64_t PerRequestFixedBytes(const CapacityConfig& c) {
  const GeometryConfig& g = c.geometry;
  const int64_t swa = int64_t{c.swa_layers} * c.swa_window_tokens * g.kv_entry_bytes;
  const int64_t c4_state = int64_t{g.csa_layers} * c.c4_state_entries * c.c4_state_entry_bytes;
  const int64_t c4_index_state =
      int64_t{g.csa_layers} * c.c4_index_state_entries * c.c4_index_state_entry_bytes;
  const int64_t c128_state =
      c.online_c128 ? int64_t{c.hca_layers} * c.c128_online_state_bytes
                    : int64_t{c.hca_layers} * c.c128_state_entries * c.c128_state_entry_bytes;
  return swa + c4_state + c4_index_state + c128_state;
}

double SglangAdmissionBytesPerToken(const CapacityConfig& c, double swa_ratio) {
  const GeometryConfig& g = c.geometry;
  // SGLang sizes the SWA pool and every compressor-state pool as swa_ratio x full tokens; states
  // are addressed per SWA page of swa_window_tokens tokens (spec §3.2-§3.3).
  const double per_swa_page = 1.0 / c.swa_window_tokens;
  const double swa = static_cast<double>(g.kv_entry_bytes) * c.swa_layers;
  const double c4_state = static_cast<double>(c.c4_state_entries) * per_swa_page *
                          c.c4_state_entry_bytes * g.csa_layers;
  const double c4_index_state = static_cast<double>(c.c4_index_state_entries) * per_swa_page *
                                c.c4_index_state_entry_bytes * g.csa_layers;
  const double c128_state = c.online_c128
                                ? per_swa_page * c.c128_online_state_bytes * c.hca_layers
                                : static_cast<double>(c.c128_state_entries) * per_swa_page *
                                      c.c128_state_entry_bytes * c.hca_layers;
  return ComputeBytesPerToken(c).total() +
         swa_ratio * (swa + c4_state + c4_index_state + c128_state);
}

namespace {
int64_t RoundBytes(double bytes) { return static_cast<int64_t>(std::llround(bytes)); }
}  // namespace

RequestGpuBytes GpuBytesAllResident(const CapacityConfig& c, int64_t context_tokens) {
  RequestGpuBytes r;
  r.length_dependent_bytes = RoundBytes(ComputeBytesPerToken(c).total() * context_tokens);
  r.fixed_bytes = PerRequestFixedBytes(c);
  return r;
}

RequestGpuBytes GpuBytesWithLsa(const CapacityConfig& c, int64_t context_tokens, int32_t kmax_pages,
                                IndexKeyPlacement placement) {
  const BytesPerToken b = ComputeBytesPerToken(c);
  GeometryConfig g = c.geometry;
  // Path-I carries the non-target layers' index keys inside each slot (DESIGN.md §2.1).
  g.paged_index_key_layers =
      placement == IndexKeyPlacement::kPaged ? g.csa_layers - c.target_layers : 0;
  const double on_gpu = b.c4_index_keys_target + b.c128_kv +
                        (placement == IndexKeyPlacement::kGpuFull ? b.c4_index_keys_other : 0.0);
  const double cold =
      b.c4_kv + (placement == IndexKeyPlacement::kPaged ? b.c4_index_keys_other : 0.0);
  RequestGpuBytes r;
  r.length_dependent_bytes = RoundBytes(on_gpu * context_tokens);
  r.hot_slot_bytes = (int64_t{kmax_pages} + 2) * g.slot_bytes();
  r.fixed_bytes = PerRequestFixedBytes(c);
  r.cold_bytes = RoundBytes(cold * context_tokens);
  return r;
}

absl::StatusOr<int64_t> SlotsNeeded(const std::vector<int32_t>& kmax_pages_per_request,
                                    double headroom) {
  if (!(headroom >= 0.0) || headroom > 16.0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("slot sizing: headroom %g, expected in [0, 16]", headroom));
  }
  int64_t pages = 0;
  for (size_t i = 0; i < kmax_pages_per_request.size(); ++i) {
    const int32_t k = kmax_pages_per_request[i];
    if (k < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("slot sizing: kmax_pages[%d] = %d, expected >= 0", i, k));
    }
    pages += int64_t{k} + 2;  // + current tail page + spare tail page
  }
  return static_cast<int64_t>(std::ceil(static_cast<double>(pages) * (1.0 + headroom) - 1e-9));
}

}  // namespace fm::sched
