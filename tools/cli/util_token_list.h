#pragma once
// Parsing of the comma-separated token-id lists that `logits`, `generate` and `run` accept.

#include <cstdint>
#include <string>
#include <vector>

namespace fm::cli {

// "1,2,3" -> ids. False on an empty list or a malformed, negative or > int32 entry.
bool ParseTokenList(const std::string& text, std::vector<int32_t>* out);

}  // namespace fm::cli
