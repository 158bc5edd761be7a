// The LSA hooks of SequenceImpl (model.h): the Level-2 resident set and its pool view, the
// snapshot of the normalised attention input h that Level 1 scores, read access to the stored
// index keys and compressed KV bytes, and the Level-2 trace used by tests.

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/model/sequence_impl.h"

namespace fm::rt {

namespace {

// InvalidArgument naming the first field of `pool` that disagrees with the model.
absl::Status CheckPoolView(const KvPoolView& pool, int64_t entry_bytes, int32_t csa_layers) {
  auto bad = [](const char* field, auto value, auto expected) {
    return absl::InvalidArgumentError(absl::StrCat("ResidentSet.pool.", field, ": ", value,
                                                   ", expected ", expected));
  };
  if (pool.base == nullptr) return bad("base", "null", "the pool's first slot");
  if (pool.entry_bytes != entry_bytes) {
    return bad("entry_bytes", pool.entry_bytes, absl::StrCat(entry_bytes, " (the model's)"));
  }
  if (pool.chunks_per_page < 1) return bad("chunks_per_page", pool.chunks_per_page, ">= 1");
  if (static_cast<int64_t>(pool.block_offset.size()) != csa_layers) {
    return bad("block_offset size", pool.block_offset.size(),
               absl::StrCat(csa_layers, " (one per CSA layer)"));
  }
  const int64_t block = int64_t{pool.chunks_per_page} * entry_bytes;
  for (size_t l = 0; l < pool.block_offset.size(); ++l) {
    if (pool.block_offset[l] < 0 || pool.block_offset[l] + block > pool.slot_bytes) {
      return bad(absl::StrCat("block_offset[", l, "]").c_str(), pool.block_offset[l],
                 absl::StrCat("a block of ", block, " B inside a slot of ", pool.slot_bytes, " B"));
    }
  }
  for (size_t p = 0; p < pool.slot_of_page.size(); ++p) {
    const int64_t slot = pool.slot_of_page[p];
    if (slot >= 0 && (slot + 1) * pool.slot_bytes > pool.pool_bytes) {
      return bad(absl::StrCat("slot_of_page[", p, "]").c_str(), slot,
                 absl::StrCat("a slot inside the pool's ", pool.pool_bytes, " B"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

void SequenceImpl::SetResidentChunks(ResidentSet set) {
  resident_ = std::move(set);
  resident_error_ = absl::OkStatus();
  restriction_ = Level2Restriction{};
  if (resident_.pool) {
    const KvPoolView& pool = *resident_.pool;
    resident_error_ = CheckPoolView(pool, model_->CompressedEntryBytes(), csa_layers_);
    // The table is the one source of truth: Level 2 picks among exactly the chunks it can read.
    resident_.mask.clear();
    if (resident_error_.ok()) {
      const size_t per_page = static_cast<size_t>(pool.chunks_per_page);
      resident_.mask.assign(pool.slot_of_page.size() * per_page, 0);
      for (size_t p = 0; p < pool.slot_of_page.size(); ++p) {
        if (pool.slot_of_page[p] < 0) continue;
        std::fill_n(resident_.mask.begin() + static_cast<std::ptrdiff_t>(p * per_page), per_page,
                    uint8_t{1});
      }
      restriction_.pool_base = reinterpret_cast<const uint8_t*>(pool.base);
      restriction_.slot_bytes = pool.slot_bytes;
      restriction_.chunks_per_page = pool.chunks_per_page;
      restriction_.block_offset = pool.block_offset.data();
      restriction_.slot_of_page = pool.slot_of_page.data();
      restriction_.n_pages = static_cast<int64_t>(pool.slot_of_page.size());
      restriction_.entry_bytes = pool.entry_bytes;
    }
  }
  const int64_t n = static_cast<int64_t>(resident_.mask.size());
  resident_prefix_.resize(static_cast<size_t>(n + 1));
  resident_prefix_[0] = 0;
  for (int64_t j = 0; j < n; ++j) {
    resident_prefix_[static_cast<size_t>(j + 1)] =
        resident_prefix_[static_cast<size_t>(j)] + (resident_.mask[static_cast<size_t>(j)] != 0);
  }
  restriction_.mask = resident_.mask.data();
  restriction_.mask_size = n;
  restriction_.prefix = resident_prefix_.data();
  has_resident_ = true;
}

void SequenceImpl::ClearResidentChunks() {
  has_resident_ = false;
  resident_.mask.clear();
  resident_.pool.reset();
  resident_prefix_.clear();
  restriction_ = Level2Restriction{};
  resident_error_ = absl::OkStatus();
}

absl::Status SequenceImpl::CheckCsaLayer(int64_t layer, const char* what) const {
  const ModelWeights& w = model_->weights();
  if (layer < 0 || layer >= static_cast<int64_t>(w.layers.size()) ||
      !w.layers[static_cast<size_t>(layer)].attn.has_indexer) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": layer ", layer, " is not a CSA layer (one with the native indexer) of this model (",
        w.layers.size(), " decoder layers)"));
  }
  return absl::OkStatus();
}

absl::Status SequenceImpl::SetHiddenCapture(absl::Span<const int64_t> layers) {
  for (int64_t l : layers) FM_RETURN_IF_ERROR(CheckCsaLayer(l, "SetHiddenCapture"));
  for (LayerState& st : layers_) {
    st.capture_hidden = false;
    st.hidden_valid = false;
  }
  for (int64_t l : layers) layers_[static_cast<size_t>(l)].capture_hidden = true;
  return absl::OkStatus();
}

absl::StatusOr<absl::Span<const float>> SequenceImpl::CapturedHidden(int64_t layer) const {
  FM_RETURN_IF_ERROR(CheckCsaLayer(layer, "CapturedHidden"));
  const LayerState& st = layers_[static_cast<size_t>(layer)];
  if (!st.capture_hidden || !st.hidden_valid) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CapturedHidden: layer ", layer,
        st.capture_hidden ? " has processed no token since capture began"
                          : " is not captured (call SetHiddenCapture first)"));
  }
  return absl::MakeConstSpan(st.last_hidden);
}

absl::Status SequenceImpl::IndexKeys(int64_t layer, int64_t first, int64_t n, float* out) const {
  FM_RETURN_IF_ERROR(CheckCsaLayer(layer, "IndexKeys"));
  const KvStore& keys = layers_[static_cast<size_t>(layer)].index_keys;
  if (first < 0 || n < 0 || first > keys.size() || n > keys.size() - first || (n > 0 && !out)) {
    return absl::InvalidArgumentError(absl::StrCat("IndexKeys: layer ", layer, " entries [", first,
                                                   ", ", first + n, ") outside the ", keys.size(),
                                                   " stored index keys (or null output)"));
  }
  for (int64_t j = 0; j < n; ++j) keys.Load(first + j, out + j * keys.dim());
  return absl::OkStatus();
}

int64_t SequenceImpl::IndexKeyCount(int64_t layer) const {
  if (!CheckCsaLayer(layer, "IndexKeyCount").ok()) return 0;
  return layers_[static_cast<size_t>(layer)].index_keys.size();
}

absl::StatusOr<absl::Span<const uint8_t>> SequenceImpl::CompressedKvBytes(int64_t layer,
                                                                          int64_t first,
                                                                          int64_t n) const {
  FM_RETURN_IF_ERROR(CheckCsaLayer(layer, "CompressedKvBytes"));
  const KvStore& kv = layers_[static_cast<size_t>(layer)].compressed;
  if (first < 0 || n < 0 || first > kv.size() || n > kv.size() - first) {
    return absl::InvalidArgumentError(absl::StrCat("CompressedKvBytes: layer ", layer,
                                                   " entries [", first, ", ", first + n,
                                                   ") outside the ", kv.size(), " stored entries"));
  }
  if (n == 0) return absl::Span<const uint8_t>();
  return absl::MakeConstSpan(kv.raw(first), static_cast<size_t>(n * kv.entry_bytes()));
}

void SequenceImpl::SetIndexerTracing(bool on) {
  trace_indexer_ = on;
  for (LayerState& st : layers_) {
    st.trace = IndexerTrace{};
    st.trace_valid = false;
  }
}

absl::StatusOr<const IndexerTrace*> SequenceImpl::LastIndexerTrace(int64_t layer) const {
  FM_RETURN_IF_ERROR(CheckCsaLayer(layer, "LastIndexerTrace"));
  const LayerState& st = layers_[static_cast<size_t>(layer)];
  if (!trace_indexer_ || !st.trace_valid) {
    return absl::FailedPreconditionError(absl::StrCat(
        "LastIndexerTrace: layer ", layer,
        trace_indexer_ ? " has processed no token since tracing began" : ": tracing is off"));
  }
  return &st.trace;
}

}  // namespace fm::rt
