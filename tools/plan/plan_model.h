#pragma once
// Capacity planner model behind `flashmem plan` (DESIGN.md §2). Every byte figure comes from
// scheduler/capacity.h (the runtime's own accounting); this file adds the deployment side: GPU
// presets, weights per GPU, the KV budget, concurrency with and without LSA, host (cold pool)
// limits and the link bandwidth a cycle's copies need.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "scheduler/capacity.h"

namespace fm::plan {

// One GPU kind. Memory in bytes (GB = 1e9 B, as vendors quote it); link in GB/s per direction.
struct GpuSpec {
  std::string name;
  int64_t memory_bytes = 0;
  double link_gbps = 50.0;  // PCIe Gen5 x16 sustained H2D (PERF_ANCHORS §3)
};

// The presets: h20 (96 GB), h100 (80 GB), h200 (141 GB), all at 50 GB/s. NotFound naming the
// name and the known presets otherwise.
absl::StatusOr<GpuSpec> GpuPreset(const std::string& name);

// Model sizes the planner needs beyond the KV geometry: weights.
struct ModelSpec {
  std::string name = "DeepSeek-V4-Flash";
  sched::CapacityConfig capacity;  // KV geometry (defaults: V4-Flash)
  int64_t hidden_size = 4096;
  int32_t moe_layers = 43;  // layers with routed experts
  int32_t routed_experts = 256;
  int32_t shared_experts = 1;
  int64_t moe_intermediate_size = 2048;
  int64_t other_params = 7'300'000'000;  // attention, embeddings, head, norms, MTP (not experts)
  double fp4_bytes_per_param = 0.5 + 1.0 / 32;  // MXFP4 + one ue8m0 scale per 32 values
  double fp8_bytes_per_param = 1.0;             // FP8 with 128x128 block scales (negligible)

  int64_t routed_expert_params() const {
    return int64_t{moe_layers} * routed_experts * 3 * hidden_size * moe_intermediate_size;
  }
  int64_t shared_expert_params() const {
    return int64_t{moe_layers} * shared_experts * 3 * hidden_size * moe_intermediate_size;
  }
  // Routed experts in FP4, everything else in FP8.
  double weight_bytes() const {
    return routed_expert_params() * fp4_bytes_per_param +
           static_cast<double>(shared_expert_params() + other_params) * fp8_bytes_per_param;
  }
  // InvalidArgument naming the field when a size is not positive.
  absl::Status Validate() const;
};

// Reads the keys the planner uses from a Hugging Face style config.json (hidden_size,
// num_hidden_layers, n_routed_experts, n_shared_experts, moe_intermediate_size, compress_ratios,
// sliding_window, index_head_dim); missing keys keep the V4-Flash defaults. InvalidArgument
// naming the file and key on a wrong type or value; NotFound when the file is missing.
absl::StatusOr<ModelSpec> LoadModelSpec(const std::string& config_json_path);

// Deployment knobs.
struct PlanInputs {
  GpuSpec gpu;
  int32_t tp = 8;                     // GPUs per replica; every rank holds a full KV replica (MQA)
  double mem_fraction = 0.88;         // share of GPU memory for weights + KV (SGLang's static)
  int32_t tau_steps = 64;             // Level-1 cycle
  double kmax_ratio = 0.0;            // 0: DefaultKmaxPages rule; else ceil(ratio * pages)
  int32_t kmax_pages = 0;             // fixed KMAX when > 0 (wins over the ratio)
  double headroom = 0.25;             // hot-pool headroom (DESIGN.md §2.2)
  double churn = 0.25;                // share of the learned pages replaced per cycle
  double tpot_ms = 50.0;              // target time per output token
  int32_t publish_delay_steps = 8;    // Δ: a cycle's copies must land within Δ steps
  int32_t batch = 0;                  // requests decoding together; 0 = the LSA max concurrency
  double host_memory_bytes = 1.5e12;  // pinned host memory per node for the cold pool
  double swa_ratio = 0.1;             // SGLang swa_full_tokens_ratio for the admission figure
  bool paged_index_keys = false;      // Path-I
  // InvalidArgument naming the flag and value.
  absl::Status Validate() const;
};

// Figures for one context length. Bytes per token in bytes; sizes in bytes.
struct PlanRow {
  int64_t context_tokens = 0;
  int64_t context_pages = 0;
  int32_t kmax_pages = 0;
  sched::BytesPerToken per_token;  // by component
  double fixed_request_bytes = 0;  // SWA windows + compressor states
  double swa_bytes = 0;
  double compressor_state_bytes = 0;
  double sglang_admission_bytes_per_token = 0;       // as SGLang counts it: ring c128 states
  double admission_online_c128_bytes_per_token = 0;  // the same with flashmem's online c128
  double all_resident_request_bytes = 0;             // GPU per request without LSA
  double lsa_request_bytes = 0;      // GPU per request with LSA, hot pool incl. headroom
  double lsa_hot_pool_bytes = 0;     // (kmax+2) * (1+headroom) slots
  double lsa_resident_kv_bytes = 0;  // paper's "physical KV": (kmax+2) slots + c128 KV
  double cold_bytes = 0;             // pinned host bytes per request (per rank)
  double kv_budget_bytes = 0;        // per GPU: memory * fraction - weights / tp
  double weights_per_gpu_bytes = 0;
  int64_t max_requests_all_resident = 0;
  int64_t max_requests_lsa_gpu = 0;   // GPU-memory bound
  int64_t max_requests_lsa_host = 0;  // host-memory bound (cold pool, replicated per rank)
  int64_t max_requests_lsa_link = 0;  // link bound: copies of that many requests fit in Δ steps
  int64_t max_requests_lsa = 0;       // min of the three
  int32_t batch = 0;
  double pages_per_cycle = 0;   // per request
  double bytes_per_cycle = 0;   // all `batch` requests, per GPU link
  double copy_window_ns = 0;    // Δ * TPOT
  double link_gbps_needed = 0;  // bytes_per_cycle / copy_window
  double full_refetch_ns = 0;   // kmax pages of one request over the link
  // What bounds LSA here: "host-memory" or "link" when that cap is the lowest, else
  // "gpu-memory"; "no-gain" when even the GPU-memory cap admits no more requests than
  // all-resident (short contexts: the hot pool costs more than it saves).
  std::string limit;
};

// Computes the row for `context_tokens`. InvalidArgument for a non-positive length or bad inputs;
// FailedPrecondition when the weights alone exceed the KV budget (names both numbers).
absl::StatusOr<PlanRow> ComputePlanRow(const ModelSpec& model, const PlanInputs& in,
                                       int64_t context_tokens);

}  // namespace fm::plan
