#pragma once
// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every wire frame payload.
// Table-driven, slicing by 16 bytes; no hardware instruction so the result is identical everywhere.

#include <cstddef>
#include <cstdint>

namespace fm::traces {

// Extends `crc` (0 for a fresh checksum) over `n` bytes at `data`. Crc32c(0, "123456789", 9) is
// 0xE3069283, the standard check value. Thread-safe; the tables are built at compile time.
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

}  // namespace fm::traces
