#pragma once
// Internal to the GPU decode executor (gpu_decode.cc, gpu_decode_weights.cc,
// gpu_decode_forward.cc): the device copies of the weights, the weight placer, the backend
// holder and the op-status check.

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_status.h"
#include "runtime/backend/cuda/blocking.h"
#include "runtime/backend/cuda/gpu_decode.h"
#include "runtime/model/model_impl.h"

namespace fm::rt::cuda {

// A kernel op's status as an absl::Status naming the call (a failure is a caller bug).
inline absl::Status GpuOpStatus(kernels::OpStatus s, const char* what) {
  if (s == kernels::OpStatus::kOk) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("gpu decode: op ", what, " failed (status ", static_cast<int>(s), ")"));
}
#define FM_GPU_OP(expr) FM_RETURN_IF_ERROR(::fm::rt::cuda::GpuOpStatus((expr), #expr))

// Bytes of a view's packed data and of its scales (WeightView::StoredBytes split in two).
inline int64_t ScaleBytes(const kernels::WeightView& w) {
  switch (w.format) {
    case kernels::WeightFormat::kFP8Block128:
      return ((w.rows + 127) / 128) * w.scale_cols;
    case kernels::WeightFormat::kMXFP4:
      return w.rows * w.scale_cols;
    default:
      return 0;
  }
}

// Places weights in the arena's weight region: a counting pass sizes it, a second pass uploads
// (blocking, reason startup: Create runs before any step).
class WeightPlacer {
 public:
  explicit WeightPlacer(std::byte* base) : base_(base) {}
  absl::StatusOr<const void*> Put(const void* host, int64_t bytes) {
    const int64_t offset = used_;
    used_ += AlignDecode(std::max<int64_t>(bytes, 1));
    if (base_ == nullptr) return static_cast<const void*>(nullptr);
    if (bytes > 0) {
      FM_CUDA_RETURN_IF_ERROR(BlockingMemcpy(base_ + offset, host, static_cast<size_t>(bytes),
                                             cudaMemcpyHostToDevice, BlockingReason::kStartup));
    }
    return static_cast<const void*>(base_ + offset);
  }
  template <typename T>
  absl::StatusOr<const T*> Vec(const std::vector<T>& v) {
    FM_ASSIGN_OR_RETURN(const void* p, Put(v.data(), static_cast<int64_t>(v.size() * sizeof(T))));
    return static_cast<const T*>(p);
  }
  absl::StatusOr<kernels::WeightView> View(const kernels::WeightView& w) {
    kernels::WeightView d = w;
    const int64_t scale = ScaleBytes(w);
    FM_ASSIGN_OR_RETURN(d.data, Put(w.data, w.StoredBytes() - scale));
    if (scale > 0) {
      FM_ASSIGN_OR_RETURN(const void* s, Put(w.scale, scale));
      d.scale = static_cast<const uint8_t*>(s);
    }
    return d;
  }
  int64_t used() const { return used_; }

 private:
  std::byte* base_;
  int64_t used_ = 0;
};

// Device copies of the weights, shaped like ModelWeights (decoder layers only).
struct GpuDecodeExecutor::DeviceWeights {
  struct Hc {
    kernels::WeightView fn;
    const float* base = nullptr;
    const float* scale = nullptr;
    int64_t n_mix = 0;
  };
  struct Comp {
    int64_t ratio = 0, coff = 1, dim = 0;
    kernels::WeightView wkv, wgate;
    const float* ape = nullptr;
    const float* norm = nullptr;
  };
  struct Expert {
    kernels::WeightView w1, w2, w3;
  };
  struct Layer {
    int64_t ratio = 0;
    const float* attn_norm = nullptr;
    const float* ffn_norm = nullptr;
    Hc hc_attn, hc_ffn;
    kernels::WeightView wq_a, wq_b, wkv, wo_b;
    std::vector<kernels::WeightView> wo_a_groups;
    const float* q_norm = nullptr;
    const float* kv_norm = nullptr;
    const float* attn_sink = nullptr;
    bool has_compressor = false, has_indexer = false;
    Comp comp, idx_comp;
    kernels::WeightView idx_wq_b, idx_weights_proj;
    kernels::WeightView gate;
    const float* gate_bias = nullptr;
    const int32_t* tid2eid = nullptr;
    bool hash = false, has_shared = false;
    std::vector<Expert> experts;
    Expert shared;
  };
  kernels::WeightView embed, head;
  const float* norm = nullptr;
  Hc hc_head;
  std::vector<Layer> layers;
  const float* plain_inv_freq = nullptr;
  const float* yarn_inv_freq = nullptr;
  const float* inv_freq(int64_t ratio) const { return ratio == 0 ? plain_inv_freq : yarn_inv_freq; }
};

struct GpuDecodeExecutor::BackendHolder {
  explicit BackendHolder(cudaStream_t s) : be(s) {}
  kernels::cuda::CudaBackend be;
};

// Places every decoder-layer weight of `m` (plus embedding, head, hc_head, RoPE tables) through
// `put` into `out`; InvalidArgument names a layer the step cannot run.
absl::Status PlaceWeights(const ModelImpl& m, WeightPlacer& put,
                          GpuDecodeExecutor::DeviceWeights* out);

}  // namespace fm::rt::cuda
