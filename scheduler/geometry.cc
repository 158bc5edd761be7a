#include "scheduler/geometry.h"

#include "absl/strings/str_format.h"

namespace fm::sched {
namespace {

absl::Status CheckPositive(const char* field, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrFormat("GeometryConfig.%s: %d, expected > 0", field, value));
}

}  // namespace

absl::Status GeometryConfig::Validate() const {
  for (auto [field, value] : {std::pair<const char*, int64_t>{"tokens_per_chunk", tokens_per_chunk},
                              {"chunks_per_page", chunks_per_page},
                              {"csa_layers", csa_layers},
                              {"kv_entry_bytes", kv_entry_bytes},
                              {"index_key_entry_bytes", index_key_entry_bytes}}) {
    if (absl::Status s = CheckPositive(field, value); !s.ok()) return s;
  }
  if (paged_index_key_layers < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "GeometryConfig.paged_index_key_layers: %d, expected >= 0", paged_index_key_layers));
  }
  // Bounds keep slot_bytes (and slot * slot_bytes for 2^31 slots) inside int64 with margin.
  constexpr int64_t kMaxSlotBytes = int64_t{1} << 30;
  // Level-1 density is one byte per page (the D2H of DESIGN.md §4), so a page holds <= 255 chunks.
  if (chunks_per_page > 255 || csa_layers > 1024 || kv_entry_bytes > (1 << 20) ||
      index_key_entry_bytes > (1 << 20) || paged_index_key_layers > 1024) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "GeometryConfig: chunks_per_page %d, csa_layers %d, kv_entry_bytes %d, "
        "index_key_entry_bytes %d, paged_index_key_layers %d exceed the supported bounds "
        "(255, 1024, 1 MiB, 1 MiB, 1024)",
        chunks_per_page, csa_layers, kv_entry_bytes, index_key_entry_bytes,
        paged_index_key_layers));
  }
  if (slot_bytes() > kMaxSlotBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "GeometryConfig: slot_bytes %d, expected <= %d", slot_bytes(), kMaxSlotBytes));
  }
  return absl::OkStatus();
}

}  // namespace fm::sched
