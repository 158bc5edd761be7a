#pragma once
// Launchers of the CUDA ops (kernels/backend.h semantics, device pointers). Each enqueues on
// `stream` and returns the launch error; parameter checks live in CudaBackend (cuda_backend.h),
// which is the only caller. Plain declarations: host C++ and .cu files both include this.

#include <cuda_runtime_api.h>

#include "kernels/backend.h"

namespace fm::kernels::cuda {

// ops_pointwise.cu: row-wise and element-wise ops, mHC mixing, pooling and the FP8 codecs.
cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream);
cudaError_t LaunchRope(const RopeParams& p, cudaStream_t stream);
cudaError_t LaunchHadamard(const HadamardParams& p, cudaStream_t stream);
cudaError_t LaunchSwiglu(const SwigluParams& p, cudaStream_t stream);
cudaError_t LaunchQuantizeKv(const KvCodecParams& p, cudaStream_t stream);
cudaError_t LaunchDequantizeKv(const KvCodecParams& p, cudaStream_t stream);
cudaError_t LaunchQuantizeIndexKey(const IndexKeyCodecParams& p, cudaStream_t stream);
cudaError_t LaunchDequantizeIndexKey(const IndexKeyCodecParams& p, cudaStream_t stream);
cudaError_t LaunchHcPre(const HcPreParams& p, cudaStream_t stream);
cudaError_t LaunchHcPost(const HcPostParams& p, cudaStream_t stream);
cudaError_t LaunchSoftmaxPool(const SoftmaxPoolParams& p, cudaStream_t stream);

// ops_select.cu: scoring, selection and attention.
cudaError_t LaunchIndexerScore(const IndexerScoreParams& p, cudaStream_t stream);
cudaError_t LaunchTopK(const TopKParams& p, cudaStream_t stream);
cudaError_t LaunchSinkAttention(const SinkAttentionParams& p, cudaStream_t stream);
cudaError_t LaunchRoute(const RouteParams& p, cudaStream_t stream);

// linear.cu: y = x W^T with W dequantised on the fly. `w` is the host-side view (its data and
// scale pointers are device pointers).
cudaError_t LaunchLinear(const WeightView& w, const float* x, int64_t n_rows, float* y,
                         cudaStream_t stream);

// Limits of the single-block kernels (CudaBackend rejects larger inputs with kBadParams).
inline constexpr int64_t kCudaTopKMaxK = 2048;
inline constexpr int64_t kCudaRouteMaxExperts = 4096;
inline constexpr int64_t kCudaRouteMaxK = 64;
inline constexpr int64_t kCudaIndexerMaxDim = 1024;
inline constexpr int64_t kCudaIndexerMaxHeads = 128;
inline constexpr int64_t kCudaAttentionMaxHeadDim = 1024;
inline constexpr int64_t kCudaHadamardMaxDim = 8192;

}  // namespace fm::kernels::cuda
