#include "runtime/model/kv_store.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"

namespace fm::rt {

KvStore::KvStore(KvMode mode, Kind kind, int64_t nope_dims, int64_t rope_dims,
                 kernels::KernelBackend* backend)
    : mode_(mode),
      kind_(kind),
      nope_dims_(nope_dims),
      rope_dims_(rope_dims),
      entry_bytes_(EntryBytes(mode, kind, nope_dims, rope_dims)),
      backend_(backend) {}

int64_t KvStore::EntryBytes(KvMode mode, Kind kind, int64_t nope_dims, int64_t rope_dims) {
  if (mode == KvMode::kFp32) return 4 * (nope_dims + rope_dims);
  if (kind == Kind::kAttention) return kernels::KvEntryBytes(nope_dims, rope_dims);
  return kernels::IndexKeyBytes(nope_dims + rope_dims);
}

// Defined beside the entry format it reports, so the engine's slot geometry and the stores agree.
int64_t Model::CompressedEntryBytes() const {
  const ModelConfig& c = config();
  return KvStore::EntryBytes(options().kv_mode, KvStore::Kind::kAttention, c.nope_head_dim(),
                             c.qk_rope_head_dim);
}

void KvStore::Resize(int64_t n) {
  if (static_cast<int64_t>(bytes_.capacity()) < n * entry_bytes_) {
    // Geometric growth: compressed caches grow one entry at a time during decode.
    bytes_.reserve(static_cast<size_t>(std::max(n, 2 * n_entries_) * entry_bytes_));
  }
  bytes_.resize(static_cast<size_t>(n * entry_bytes_));
  n_entries_ = n;
}

void KvStore::Store(int64_t i, const float* values) {
  FM_CHECK(i >= 0 && i < n_entries_);
  uint8_t* dst = bytes_.data() + i * entry_bytes_;
  if (mode_ == KvMode::kFp32) {
    std::memcpy(dst, values, static_cast<size_t>(entry_bytes_));
    return;
  }
  // The codecs read `values` only; the Params field is non-const because dequantise writes it.
  float* v = const_cast<float*>(values);
  kernels::OpStatus s;
  if (kind_ == Kind::kAttention) {
    s = backend_->QuantizeKv(kernels::KvCodecParams{nope_dims_, rope_dims_, 1, v, dst});
  } else {
    s = backend_->QuantizeIndexKey(kernels::IndexKeyCodecParams{dim(), 1, v, dst});
  }
  FM_CHECK(s == kernels::OpStatus::kOk);
}

void KvStore::Load(int64_t i, float* out) const {
  FM_CHECK(i >= 0 && i < n_entries_);
  Decode(raw(i), out);
}

void KvStore::Decode(const uint8_t* src, float* out) const {
  if (mode_ == KvMode::kFp32) {
    std::memcpy(out, src, static_cast<size_t>(entry_bytes_));
    return;
  }
  uint8_t* b = const_cast<uint8_t*>(src);  // dequantise only reads the bytes
  kernels::OpStatus s;
  if (kind_ == Kind::kAttention) {
    s = backend_->DequantizeKv(kernels::KvCodecParams{nope_dims_, rope_dims_, 1, out, b});
  } else {
    s = backend_->DequantizeIndexKey(kernels::IndexKeyCodecParams{dim(), 1, out, b});
  }
  FM_CHECK(s == kernels::OpStatus::kOk);
}

void KvStore::CopyEntry(const KvStore& src, int64_t src_index, int64_t i) {
  FM_CHECK(src.entry_bytes_ == entry_bytes_ && i >= 0 && i < n_entries_ && src_index >= 0 &&
           src_index < src.n_entries_);
  std::memcpy(bytes_.data() + i * entry_bytes_, src.raw(src_index), static_cast<size_t>(entry_bytes_));
}

}  // namespace fm::rt
