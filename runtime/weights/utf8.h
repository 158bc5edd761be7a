#pragma once
// Strict UTF-8 validation for safetensors headers (tensor names come from untrusted files).

#include <cstdint>
#include <string_view>

namespace fm::rt {

// Byte offset of the first byte that breaks strict UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF, no truncated sequence), or -1 when `bytes` is valid.
int64_t FirstInvalidUtf8(std::string_view bytes);

}  // namespace fm::rt
