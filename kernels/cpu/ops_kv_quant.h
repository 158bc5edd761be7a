#pragma once
// CPU ops of the KV-cache codecs of kernels/backend.h: FP8 attention KV entries (e4m3 no-RoPE part
// with ue8m0 power-of-two scales per 64-element tile, bf16 RoPE part) and FP8 index keys (e4m3 with
// one fp32 scale). Quantise on store, dequantise on read. Each entry runs the per-entry code the
// CUDA kernels run too (kernels/fp8_entry_codecs.h), so the backends share one codec.

#include <cstdint>

#include "kernels/backend.h"

namespace fm::kernels::cpu {

OpStatus QuantizeKv(const KvCodecParams& p);
OpStatus DequantizeKv(const KvCodecParams& p);
OpStatus QuantizeIndexKey(const IndexKeyCodecParams& p);
OpStatus DequantizeIndexKey(const IndexKeyCodecParams& p);

// The 256 e4m3 codes decoded to fp32 (a static lookup table shared by the decoders).
const float* E4m3Table();

}  // namespace fm::kernels::cpu
