#include "kernels/cuda/cuda_backend.h"

#include <limits>

#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/ops/linear_gemm.cuh"
#include "kernels/cuda/ops/topk_radix.cuh"

namespace fm::kernels::cuda {
namespace {

OpStatus Launched(cudaError_t e) {
  if (e == cudaSuccess) return OpStatus::kOk;
  cudaGetLastError();  // a launch error is not sticky; leave the context usable
  return OpStatus::kDeviceError;
}

bool PowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

}  // namespace

OpStatus CudaBackend::Linear(const LinearParams& p) {
  if (p.w == nullptr || p.x == nullptr || p.y == nullptr || p.n_rows < 0 || p.w->rows < 0 ||
      p.w->cols <= 0 || p.w->data == nullptr) {
    return OpStatus::kBadParams;
  }
  const bool scaled =
      p.w->format == WeightFormat::kFP8Block128 || p.w->format == WeightFormat::kMXFP4;
  if (scaled && p.w->scale == nullptr) return OpStatus::kBadParams;
  if (p.w->format == WeightFormat::kMXFP4 && p.w->cols % 32 != 0) return OpStatus::kBadParams;
  // GEMV for decode-sized batches, tiled GEMM for prefill (ops/linear_plan.h).
  return Launched(LaunchLinearPlanned(*p.w, p.x, p.n_rows, p.y, stream_));
}

OpStatus CudaBackend::RmsNorm(const RmsNormParams& p) {
  if (p.x == nullptr || p.y == nullptr || p.n_rows < 0 || p.dim <= 0) return OpStatus::kBadParams;
  return Launched(LaunchRmsNorm(p, stream_));
}

OpStatus CudaBackend::Rope(const RopeParams& p) {
  if (p.x == nullptr || p.positions == nullptr || p.inv_freq == nullptr || p.n_rows < 0 ||
      p.n_heads <= 0 || p.n_pairs < 0 || p.rope_offset < 0 ||
      p.rope_offset + 2 * p.n_pairs > p.head_stride) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchRope(p, stream_));
}

OpStatus CudaBackend::Hadamard(const HadamardParams& p) {
  if (p.x == nullptr || p.n_vectors < 0 || !PowerOfTwo(p.dim) || p.dim > kCudaHadamardMaxDim) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchHadamard(p, stream_));
}

OpStatus CudaBackend::HcPre(const HcPreParams& p) {
  const bool sublayer = p.post != nullptr;
  if (p.x == nullptr || p.mixes_raw == nullptr || p.scale == nullptr || p.base == nullptr ||
      p.y == nullptr || p.n_rows < 0 || p.n_hc <= 0 || p.dim <= 0 ||
      (sublayer && (p.comb == nullptr || p.n_mix != (2 + p.n_hc) * p.n_hc)) ||
      (!sublayer && p.n_mix != p.n_hc) || p.n_mix > 255) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchHcPre(p, stream_));
}

OpStatus CudaBackend::HcPost(const HcPostParams& p) {
  if (p.y == nullptr || p.residual == nullptr || p.post == nullptr || p.comb == nullptr ||
      p.out == nullptr || p.out == p.residual || p.n_rows < 0 || p.n_hc <= 0 || p.dim <= 0) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchHcPost(p, stream_));
}

OpStatus CudaBackend::SoftmaxPool(const SoftmaxPoolParams& p) {
  if (p.values == nullptr || p.scores == nullptr || p.out == nullptr || p.n_slots <= 0 ||
      p.dim <= 0) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchSoftmaxPool(p, stream_));
}

OpStatus CudaBackend::SinkAttention(const SinkAttentionParams& p) {
  // scratch is not used on the GPU (two passes instead), so it may be null here.
  if (p.q == nullptr || p.kv == nullptr || p.sink == nullptr || p.out == nullptr || p.n_kv <= 0 ||
      p.head_dim <= 0 || p.head_dim > kCudaAttentionMaxHeadDim || p.head_begin < 0 ||
      p.head_end > p.n_heads || p.head_begin > p.head_end) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchSinkAttention(p, stream_));
}

OpStatus CudaBackend::IndexerScore(const IndexerScoreParams& p) {
  const bool f32 = p.keys_f32 != nullptr;
  if (p.q == nullptr || p.weights == nullptr || p.out == nullptr || p.n_keys < 0 ||
      p.n_heads <= 0 || p.dim <= 0 || f32 == (p.keys_fp8 != nullptr) ||
      (!f32 && p.key_scales == nullptr) || p.key_stride < p.dim || p.dim > kCudaIndexerMaxDim) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchIndexerScore(p, stream_));
}

OpStatus CudaBackend::TopK(const TopKParams& p) {
  if (p.scores == nullptr || p.out == nullptr || p.n < 0 || p.k < 0 || p.k > p.n ||
      p.n > std::numeric_limits<int32_t>::max() || p.k > kCudaTopKMaxK) {
    return OpStatus::kBadParams;
  }
  // Multi-block radix select for long arrays when the workspace allows (ops/topk_plan.h).
  return Launched(LaunchTopKPlanned(p, workspace_, workspace_bytes_, stream_));
}

OpStatus CudaBackend::Route(const RouteParams& p) {
  if (p.logits == nullptr || p.experts == nullptr || p.weights == nullptr || p.n_rows < 0 ||
      p.n_experts <= 0 || p.n_experts > kCudaRouteMaxExperts || p.k <= 0 || p.k > p.n_experts ||
      p.k > kCudaRouteMaxK || p.score_func < 0 || p.score_func > kScoreSoftmax) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchRoute(p, stream_));
}

OpStatus CudaBackend::Swiglu(const SwigluParams& p) {
  if (p.gate == nullptr || p.up == nullptr || p.out == nullptr || p.n_rows < 0 || p.dim <= 0) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchSwiglu(p, stream_));
}

OpStatus CudaBackend::QuantizeKv(const KvCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.nope_dims < 0 || p.rope_dims < 0 ||
      p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchQuantizeKv(p, stream_));
}

OpStatus CudaBackend::DequantizeKv(const KvCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.nope_dims < 0 || p.rope_dims < 0 ||
      p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchDequantizeKv(p, stream_));
}

OpStatus CudaBackend::QuantizeIndexKey(const IndexKeyCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.dim <= 0 || p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchQuantizeIndexKey(p, stream_));
}

OpStatus CudaBackend::DequantizeIndexKey(const IndexKeyCodecParams& p) {
  if (p.values == nullptr || p.bytes == nullptr || p.dim <= 0 || p.n_entries < 0) {
    return OpStatus::kBadParams;
  }
  return Launched(LaunchDequantizeIndexKey(p, stream_));
}

}  // namespace fm::kernels::cuda
