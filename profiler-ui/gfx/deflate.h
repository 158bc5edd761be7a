#pragma once
// A small raw-deflate (RFC 1951) codec so screenshots need no zlib: the encoder emits LZ77 matches
// with the fixed Huffman code (good enough for UI images, which are mostly flat runs: a 1600x900
// screenshot shrinks about 20x); the decoder reads stored and fixed-Huffman blocks, which is
// everything the encoder (and the older stored-only writer) produces.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace fm::ui {

// Raw deflate stream of `data` (no zlib header or checksum): fixed-Huffman blocks.
std::vector<uint8_t> DeflateFixed(std::span<const uint8_t> data);

// Inflates a raw deflate stream of stored and fixed-Huffman blocks. DataLoss naming the byte
// offset for dynamic-Huffman blocks, bad codes, distances before the start, a truncated stream,
// or output beyond `max_output_bytes` (so bad input cannot allocate unboundedly). *consumed gets
// the stream's length in bytes when non-null.
absl::StatusOr<std::vector<uint8_t>> Inflate(std::span<const uint8_t> stream, size_t max_output_bytes,
                                             size_t* consumed = nullptr);

}  // namespace fm::ui
