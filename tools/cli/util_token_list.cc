#include "tools/cli/util_token_list.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace fm::cli {

bool ParseTokenList(const std::string& text, std::vector<int32_t>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int32_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 0) return false;
    out->push_back(v);
  }
  return !out->empty();
}

}  // namespace fm::cli
