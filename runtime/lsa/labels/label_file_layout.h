#pragma once
// Constants of the .fmlabels byte layout shared by the writer and the reader (README.md beside).

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "runtime/lsa/labels/label_file.h"

namespace fm::rt::labels {

inline constexpr char kHeaderMagic[8] = {'F', 'M', 'L', 'A', 'B', 'E', 'L', 'S'};
inline constexpr char kTrailerMagic[8] = {'F', 'M', 'L', 'B', 'L', 'E', 'N', 'D'};
inline constexpr size_t kHeaderFixedBytes = 16;  // magic + version + payload_bytes
inline constexpr size_t kMaxHeaderPayload = 65536;
inline constexpr size_t kTrailerBytes = 24;      // footer_offset + footer_bytes + crc + magic
inline constexpr size_t kRecordFixedBytes = 28;  // record_bytes, n_labels, t, position, token
inline constexpr size_t kFooterBytes = 56;       // seven u64 (its CRC follows)
inline constexpr int64_t kMaxDim = int64_t{1} << 20;
inline constexpr int64_t kMaxLayers = 4096;
inline constexpr int64_t kMaxPosition = int64_t{1} << 40;         // far beyond any context
inline constexpr int64_t kMaxHiddenPerRecord = int64_t{1} << 26;  // keeps a record < 2^32 B
inline constexpr size_t kMaxSourceBytes = 4096;
inline constexpr size_t kMaxLabelsPerToken = size_t{1} << 24;
inline constexpr size_t kTableBlockEntries = 4096;  // offset-table entries the writer buffers
inline constexpr int64_t kMaxKeyBlockRows = int64_t{1} << 20;

// Bytes of one token record with `n_labels` labels and `hidden_bytes` of hidden states.
inline constexpr size_t RecordBytes(size_t n_labels, size_t hidden_bytes) {
  return kRecordFixedBytes + 8 * n_labels + 4 + hidden_bytes + 4;
}

// InvalidArgument naming the first header field out of range (writer before writing, reader after
// parsing).
absl::Status ValidateLabelFileHeader(const LabelFileHeader& h);

}  // namespace fm::rt::labels
