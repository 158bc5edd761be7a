#pragma once
// fp32 CPU references of the attention-side ops of kernels/backend.h: compressor softmax pooling,
// attention with a sink over gathered K=V entries, Lightning-indexer scoring and top-k selection.
// These run per query (or per compressed entry); callers parallelise across queries or heads, so
// they take no thread pool.

#include "kernels/backend.h"

namespace fm::kernels::cpu {

OpStatus SoftmaxPool(const SoftmaxPoolParams& p);
OpStatus SinkAttention(const SinkAttentionParams& p);
OpStatus IndexerScore(const IndexerScoreParams& p);
OpStatus TopK(const TopKParams& p);

}  // namespace fm::kernels::cpu
