// The LSA hooks of SequenceImpl (model.h): the Level-2 resident set, the snapshot of the
// normalised attention input h that Level 1 scores, read access to the stored index keys, and the
// Level-2 trace used by tests.

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "runtime/model/sequence_impl.h"

namespace fm::rt {

void SequenceImpl::SetResidentChunks(ResidentSet set) {
  resident_ = std::move(set);
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
  resident_prefix_.clear();
  restriction_ = Level2Restriction{};
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
