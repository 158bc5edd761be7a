#include "runtime/engine/engine_types.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace fm::rt {

absl::StatusOr<SelectionMode> ParseSelectionMode(std::string_view text) {
  for (SelectionMode m : {SelectionMode::kFull, SelectionMode::kLsa, SelectionMode::kRecency,
                          SelectionMode::kRandom, SelectionMode::kOracle}) {
    if (text == SelectionModeName(m)) return m;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--mode: '", std::string(text), "', expected full|lsa|recency|random|oracle"));
}

std::string_view SelectionModeName(SelectionMode mode) {
  switch (mode) {
    case SelectionMode::kFull: return "full";
    case SelectionMode::kLsa: return "lsa";
    case SelectionMode::kRecency: return "recency";
    case SelectionMode::kRandom: return "random";
    case SelectionMode::kOracle: return "oracle";
  }
  return "unknown";
}

}  // namespace fm::rt
