#pragma once
// KvStore: a growable array of cache entries (window ring slots, compressed entries or index
// keys) in the sequence's KV mode. kFp32 keeps exact floats; kFp8 keeps the production byte
// formats of kernels/backend.h (584-byte attention entries for Flash, 132-byte index keys).
// Values are quantised on Store and dequantised on Load, so every reader sees exactly what a
// later step would read back.

#include <cstdint>
#include <vector>

#include "kernels/backend.h"
#include "runtime/model/model.h"

namespace fm::rt {

class KvStore {
 public:
  enum class Kind : uint8_t { kAttention, kIndexKey };

  // Entries of nope_dims + rope_dims values (index keys: rope_dims is part of `dim`, and only the
  // total matters).
  KvStore(KvMode mode, Kind kind, int64_t nope_dims, int64_t rope_dims,
          kernels::KernelBackend* backend);

  // Bytes of one stored entry of this shape in `mode` (fp32: 4 * dim; fp8: the codec's size).
  static int64_t EntryBytes(KvMode mode, Kind kind, int64_t nope_dims, int64_t rope_dims);

  int64_t dim() const { return nope_dims_ + rope_dims_; }
  int64_t size() const { return n_entries_; }
  bool fp8() const { return mode_ == KvMode::kFp8; }
  // Bytes per stored entry (fp32: 4 * dim).
  int64_t entry_bytes() const { return entry_bytes_; }

  // Grows (or shrinks) to n entries; existing entries keep their values.
  void Resize(int64_t n);
  // Quantises `values` [dim] into entry i (< size()).
  void Store(int64_t i, const float* values);
  // Dequantises entry i into `out` [dim]. Thread-safe against other Loads.
  void Load(int64_t i, float* out) const;
  // Dequantises the entry_bytes() bytes at `raw` (an entry of this store's format held elsewhere,
  // e.g. an LSA hot-pool cell) into `out` [dim]. Thread-safe.
  void Decode(const uint8_t* raw, float* out) const;
  // Copies entry `src_index` of `src` (same mode and shape) into entry i, bit for bit.
  void CopyEntry(const KvStore& src, int64_t src_index, int64_t i);

  // Raw storage of entry i (fp32 floats or codec bytes).
  const uint8_t* raw(int64_t i) const { return bytes_.data() + i * entry_bytes_; }

 private:
  KvMode mode_;
  Kind kind_;
  int64_t nope_dims_;
  int64_t rope_dims_;
  int64_t entry_bytes_;
  int64_t n_entries_ = 0;
  kernels::KernelBackend* backend_;
  std::vector<uint8_t> bytes_;
};

}  // namespace fm::rt
