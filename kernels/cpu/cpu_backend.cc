#include "kernels/cpu/cpu_backend.h"

#include "kernels/cpu/linear.h"
#include "kernels/cpu/ops_attention.h"
#include "kernels/cpu/ops_hc.h"
#include "kernels/cpu/ops_kv_quant.h"
#include "kernels/cpu/ops_moe.h"
#include "kernels/cpu/ops_norm.h"

namespace fm::kernels::cpu {

OpStatus CpuBackend::Linear(const LinearParams& p) {
  if (p.w == nullptr || p.x == nullptr || p.y == nullptr || p.n_rows < 0) return OpStatus::kBadParams;
  if (p.n_rows == 0) return OpStatus::kOk;
  cpu::Linear(*p.w, p.x, p.n_rows, p.y, pool_);
  return OpStatus::kOk;
}

OpStatus CpuBackend::RmsNorm(const RmsNormParams& p) { return cpu::RmsNorm(p, pool_); }
OpStatus CpuBackend::Rope(const RopeParams& p) { return cpu::Rope(p, pool_); }
OpStatus CpuBackend::Hadamard(const HadamardParams& p) { return cpu::Hadamard(p, pool_); }
OpStatus CpuBackend::HcPre(const HcPreParams& p) { return cpu::HcPre(p, pool_); }
OpStatus CpuBackend::HcPost(const HcPostParams& p) { return cpu::HcPost(p, pool_); }
OpStatus CpuBackend::SoftmaxPool(const SoftmaxPoolParams& p) { return cpu::SoftmaxPool(p); }
OpStatus CpuBackend::SinkAttention(const SinkAttentionParams& p) { return cpu::SinkAttention(p); }
OpStatus CpuBackend::IndexerScore(const IndexerScoreParams& p) { return cpu::IndexerScore(p); }
OpStatus CpuBackend::TopK(const TopKParams& p) { return cpu::TopK(p); }
OpStatus CpuBackend::Route(const RouteParams& p) { return cpu::Route(p); }
OpStatus CpuBackend::Swiglu(const SwigluParams& p) { return cpu::Swiglu(p, pool_); }
OpStatus CpuBackend::QuantizeKv(const KvCodecParams& p) { return cpu::QuantizeKv(p); }
OpStatus CpuBackend::DequantizeKv(const KvCodecParams& p) { return cpu::DequantizeKv(p); }
OpStatus CpuBackend::QuantizeIndexKey(const IndexKeyCodecParams& p) {
  return cpu::QuantizeIndexKey(p);
}
OpStatus CpuBackend::DequantizeIndexKey(const IndexKeyCodecParams& p) {
  return cpu::DequantizeIndexKey(p);
}

}  // namespace fm::kernels::cpu
