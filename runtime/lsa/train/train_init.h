#pragma once
// Initialisation of a wider indexer for training (spec §8 "Initialisation"): the native indexer
// fills the first index_n_heads heads x q_lora_rank rank dims (MemoryIndexer::FromNative) and the
// rest keeps PyTorch's default nn.Linear initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with
// q_norm's extra dims = 1 and its copied dims the checkpoint's values. FromNative leaves the padding
// zero (so its logits equal the native scores), but zero heads cannot learn: a head with q = 0 and
// w = 0 gets zero gradient in both. With no padding (H, R = the native sizes) this changes nothing.

#include <cstdint>

#include "runtime/lsa/memory_indexer.h"

namespace fm::rt::train {

// Re-initialises the padding of every target of `indexer` (built by FromNative from a model with
// `native_heads` index heads and `native_rank` = q_lora_rank) from `seed`.
void InitPaddingLikeTorch(MemoryIndexer* indexer, int64_t native_heads, int64_t native_rank,
                          uint64_t seed);

}  // namespace fm::rt::train
