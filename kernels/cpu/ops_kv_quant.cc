#include "kernels/cpu/ops_kv_quant.h"

#include <array>

#include "kernels/fp8_entry_codecs.h"
#include "kernels/numeric_formats.h"

namespace fm::kernels::cpu {

const float* E4m3Table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c) t[static_cast<size_t>(c)] = E4m3ToFloat(static_cast<uint8_t>(c));
    return t;
  }();
  return table.data();
}

namespace {

// The e4m3 decode of the CPU decoders: a lookup in E4m3Table().
struct E4m3Lookup {
  const float* table = E4m3Table();
  float operator()(uint8_t code) const { return table[code]; }
};

}  // namespace

OpStatus QuantizeKv(const KvCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.nope_dims < 0 || p.rope_dims < 0 ||
      p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  const int64_t dim = p.nope_dims + p.rope_dims;
  const int64_t entry = KvEntryBytes(p.nope_dims, p.rope_dims);
  for (int64_t n = 0; n < p.n_entries; ++n) {
    QuantizeKvEntry(p.values + n * dim, p.nope_dims, p.rope_dims, p.bytes + n * entry);
  }
  return OpStatus::kOk;
}

OpStatus DequantizeKv(const KvCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.nope_dims < 0 || p.rope_dims < 0 ||
      p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  const int64_t dim = p.nope_dims + p.rope_dims;
  const int64_t entry = KvEntryBytes(p.nope_dims, p.rope_dims);
  const E4m3Lookup lookup;
  for (int64_t n = 0; n < p.n_entries; ++n) {
    DequantizeKvEntry(p.bytes + n * entry, p.nope_dims, p.rope_dims, p.values + n * dim, lookup);
  }
  return OpStatus::kOk;
}

OpStatus QuantizeIndexKey(const IndexKeyCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.dim <= 0 || p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  const int64_t entry = IndexKeyBytes(p.dim);
  for (int64_t n = 0; n < p.n_entries; ++n) {
    QuantizeIndexKeyEntry(p.values + n * p.dim, p.dim, p.bytes + n * entry);
  }
  return OpStatus::kOk;
}

OpStatus DequantizeIndexKey(const IndexKeyCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.dim <= 0 || p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  const int64_t entry = IndexKeyBytes(p.dim);
  const E4m3Lookup lookup;
  for (int64_t n = 0; n < p.n_entries; ++n) {
    DequantizeIndexKeyEntry(p.bytes + n * entry, p.dim, p.values + n * p.dim, lookup);
  }
  return OpStatus::kOk;
}

}  // namespace fm::kernels::cpu
