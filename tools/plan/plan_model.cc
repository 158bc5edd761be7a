#include "tools/plan/plan_model.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "scheduler/selection_policy.h"

namespace fm::plan {

absl::StatusOr<GpuSpec> GpuPreset(const std::string& name) {
  const std::string key = absl::AsciiStrToLower(name);
  if (key == "h20") return GpuSpec{"H20", 96'000'000'000, 50.0};
  if (key == "h100") return GpuSpec{"H100", 80'000'000'000, 50.0};
  if (key == "h200") return GpuSpec{"H200", 141'000'000'000, 50.0};
  return absl::NotFoundError(absl::StrFormat(
      "GPU preset '%s' is unknown; expected h20, h100, h200 or custom (--gpu-memory-gb and "
      "--link-gbps)",
      name));
}

absl::Status ModelSpec::Validate() const {
  FM_RETURN_IF_ERROR(capacity.Validate());
  const std::pair<const char*, int64_t> fields[] = {
      {"hidden_size", hidden_size},
      {"moe_layers", moe_layers},
      {"routed_experts", routed_experts},
      {"moe_intermediate_size", moe_intermediate_size}};
  for (auto [field, value] : fields) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("model %s: %s = %d, expected > 0", name, field, value));
    }
  }
  if (shared_experts < 0 || other_params < 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("model %s: shared_experts %d / other_params %d, expected >= 0", name,
                        shared_experts, other_params));
  }
  return absl::OkStatus();
}

namespace {

// Reads an integer key when present. InvalidArgument naming file and key otherwise.
absl::Status ReadInt(const nlohmann::json& j, const std::string& path, const char* key, int64_t lo,
                     int64_t* out) {
  if (!j.contains(key)) return absl::OkStatus();
  const nlohmann::json& v = j[key];
  if (!v.is_number_integer() || v.get<int64_t>() < lo) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: key '%s' = %s, expected an integer >= %d", path, key, v.dump(), lo));
  }
  *out = v.get<int64_t>();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ModelSpec> LoadModelSpec(const std::string& path) {
  std::ifstream f(path);
  if (!f) return absl::NotFoundError(absl::StrFormat("%s: cannot open model config", path));
  nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: not a JSON object", path));
  }
  ModelSpec m;
  m.name = path;
  int64_t v = m.hidden_size;
  FM_RETURN_IF_ERROR(ReadInt(j, path, "hidden_size", 1, &v));
  m.hidden_size = v;
  v = m.moe_layers;
  FM_RETURN_IF_ERROR(ReadInt(j, path, "num_hidden_layers", 1, &v));
  m.moe_layers = static_cast<int32_t>(std::min<int64_t>(v, 1 << 16));
  v = m.routed_experts;
  FM_RETURN_IF_ERROR(ReadInt(j, path, "n_routed_experts", 1, &v));
  m.routed_experts = static_cast<int32_t>(std::min<int64_t>(v, 1 << 20));
  v = m.shared_experts;
  FM_RETURN_IF_ERROR(ReadInt(j, path, "n_shared_experts", 0, &v));
  m.shared_experts = static_cast<int32_t>(std::min<int64_t>(v, 1 << 10));
  v = m.moe_intermediate_size;
  FM_RETURN_IF_ERROR(ReadInt(j, path, "moe_intermediate_size", 1, &v));
  m.moe_intermediate_size = v;
  v = m.capacity.swa_window_tokens;
  FM_RETURN_IF_ERROR(ReadInt(j, path, "sliding_window", 1, &v));
  m.capacity.swa_window_tokens = static_cast<int32_t>(std::min<int64_t>(v, 1 << 24));
  if (j.contains("compress_ratios")) {
    const nlohmann::json& r = j["compress_ratios"];
    if (!r.is_array()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: key 'compress_ratios' is %s, expected an array", path, r.dump()));
    }
    int32_t c4 = 0, c128 = 0;
    for (size_t i = 0; i < r.size(); ++i) {
      if (!r[i].is_number_integer()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s: compress_ratios[%d] = %s, expected an integer", path, i, r[i].dump()));
      }
      const int64_t ratio = r[i].get<int64_t>();
      if (ratio == m.capacity.geometry.tokens_per_chunk) ++c4;
      if (ratio == m.capacity.c128_ratio) ++c128;
    }
    m.capacity.geometry.csa_layers = c4;
    m.capacity.hca_layers = c128;
    m.capacity.swa_layers = static_cast<int32_t>(std::min<size_t>(r.size(), 1 << 16));
  }
  FM_RETURN_IF_ERROR(m.Validate());
  return m;
}

absl::Status PlanInputs::Validate() const {
  auto bad = [](const char* flag, double value, const char* expected) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s = %g, expected %s", flag, value, expected));
  };
  if (!(gpu.memory_bytes > 0)) return bad("--gpu-memory-gb", gpu.memory_bytes / 1e9, "> 0");
  if (!(gpu.link_gbps > 0)) return bad("--link-gbps", gpu.link_gbps, "> 0");
  if (tp < 1 || tp > 1024) return bad("--tp", tp, "in [1, 1024]");
  if (!(mem_fraction > 0 && mem_fraction <= 1))
    return bad("--mem-fraction", mem_fraction, "in (0, 1]");
  if (tau_steps < 1 || tau_steps > 256) return bad("--tau", tau_steps, "in [1, 256]");
  if (!(kmax_ratio >= 0 && kmax_ratio <= 1)) return bad("--kmax-ratio", kmax_ratio, "in [0, 1]");
  if (kmax_pages < 0) return bad("--kmax", kmax_pages, ">= 0");
  if (!(headroom >= 0 && headroom <= 16)) return bad("--headroom", headroom, "in [0, 16]");
  if (!(churn >= 0 && churn <= 1)) return bad("--churn", churn, "in [0, 1]");
  if (!(tpot_ms > 0)) return bad("--tpot-ms", tpot_ms, "> 0");
  if (publish_delay_steps < 1 || publish_delay_steps > tau_steps)
    return bad("--publish-delay", publish_delay_steps, "in [1, tau]");
  if (batch < 0) return bad("--batch", batch, ">= 0");
  if (!(host_memory_bytes > 0)) return bad("--host-memory-gb", host_memory_bytes / 1e9, "> 0");
  if (!(swa_ratio >= 0 && swa_ratio <= 1)) return bad("--swa-ratio", swa_ratio, "in [0, 1]");
  return absl::OkStatus();
}

namespace {

int64_t FloorCount(double budget, double per_item) {
  if (per_item <= 0) return std::numeric_limits<int32_t>::max();
  if (budget <= 0) return 0;
  return static_cast<int64_t>(std::floor(budget / per_item + 1e-9));
}

}  // namespace

absl::StatusOr<PlanRow> ComputePlanRow(const ModelSpec& model, const PlanInputs& in,
                                       int64_t context_tokens) {
  FM_RETURN_IF_ERROR(model.Validate());
  FM_RETURN_IF_ERROR(in.Validate());
  if (context_tokens <= 0 || context_tokens > (int64_t{1} << 34)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--context: %d tokens, expected in [1, 2^34]", context_tokens));
  }
  const sched::CapacityConfig& c = model.capacity;
  const sched::GeometryConfig& g = c.geometry;
  PlanRow row;
  row.context_tokens = context_tokens;
  row.context_pages = sched::PagesForTokens(context_tokens, g);
  if (in.kmax_pages > 0) {
    row.kmax_pages = in.kmax_pages;
  } else if (in.kmax_ratio > 0) {
    row.kmax_pages = static_cast<int32_t>(std::ceil(in.kmax_ratio * row.context_pages));
  } else {
    row.kmax_pages = sched::DefaultKmaxPages(row.context_pages);
  }
  row.per_token = sched::ComputeBytesPerToken(c);
  row.fixed_request_bytes = static_cast<double>(sched::PerRequestFixedBytes(c));
  row.swa_bytes = static_cast<double>(c.swa_layers) * c.swa_window_tokens * g.kv_entry_bytes;
  row.compressor_state_bytes = row.fixed_request_bytes - row.swa_bytes;
  sched::CapacityConfig ring = c;
  ring.online_c128 = false;  // SGLang keeps 128-entry c128 state rings
  row.sglang_admission_bytes_per_token = sched::SglangAdmissionBytesPerToken(ring, in.swa_ratio);
  sched::CapacityConfig online = c;
  online.online_c128 = true;
  row.admission_online_c128_bytes_per_token =
      sched::SglangAdmissionBytesPerToken(online, in.swa_ratio);

  const auto placement =
      in.paged_index_keys ? sched::IndexKeyPlacement::kPaged : sched::IndexKeyPlacement::kGpuFull;
  const sched::RequestGpuBytes all = sched::GpuBytesAllResident(c, context_tokens);
  const sched::RequestGpuBytes lsa =
      sched::GpuBytesWithLsa(c, context_tokens, row.kmax_pages, placement);
  row.all_resident_request_bytes = static_cast<double>(all.total_gpu_bytes());
  row.lsa_hot_pool_bytes = static_cast<double>(lsa.hot_slot_bytes) * (1.0 + in.headroom);
  row.lsa_request_bytes =
      static_cast<double>(lsa.length_dependent_bytes + lsa.fixed_bytes) + row.lsa_hot_pool_bytes;
  row.lsa_resident_kv_bytes =
      static_cast<double>(lsa.hot_slot_bytes) + row.per_token.c128_kv * context_tokens;
  row.cold_bytes = static_cast<double>(lsa.cold_bytes);

  row.weights_per_gpu_bytes = model.weight_bytes() / in.tp;
  row.kv_budget_bytes =
      static_cast<double>(in.gpu.memory_bytes) * in.mem_fraction - row.weights_per_gpu_bytes;
  if (row.kv_budget_bytes <= 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "weights need %.1f GB per GPU at tp %d but only %.1f GB (%s x %.2f) is available; raise "
        "--tp or --mem-fraction",
        row.weights_per_gpu_bytes / 1e9, in.tp, in.gpu.memory_bytes * in.mem_fraction / 1e9,
        in.gpu.name, in.mem_fraction));
  }
  // Every rank holds a full replica of the KV and of the cold pool (MQA KV, spec §6.1-§6.2), so
  // budgets are per GPU and host memory is shared by tp replicas.
  row.max_requests_all_resident = FloorCount(row.kv_budget_bytes, row.all_resident_request_bytes);
  row.max_requests_lsa_gpu = FloorCount(row.kv_budget_bytes, row.lsa_request_bytes);
  row.max_requests_lsa_host = FloorCount(in.host_memory_bytes, row.cold_bytes * in.tp);

  // Copies per cycle: the learned (non-tail) pages that churn; the forced tail only slides.
  const int64_t tail_pages = sched::PagesForChunks(sched::PolicyParams{}.tail_chunks, g) + 1;
  const double learned = std::max<double>(0.0, row.kmax_pages - tail_pages);
  row.pages_per_cycle = in.churn * learned;
  const double bytes_per_request_cycle =
      row.pages_per_cycle *
      static_cast<double>(
          g.slot_bytes() +
          (in.paged_index_keys ? (g.csa_layers - c.target_layers) * g.index_key_block_bytes() : 0));
  row.copy_window_ns = in.publish_delay_steps * in.tpot_ms * 1e6;
  row.max_requests_lsa_link =
      FloorCount(in.gpu.link_gbps * row.copy_window_ns, bytes_per_request_cycle);
  row.max_requests_lsa =
      std::min({row.max_requests_lsa_gpu, row.max_requests_lsa_host, row.max_requests_lsa_link});
  row.batch = in.batch > 0
                  ? in.batch
                  : static_cast<int32_t>(std::min<int64_t>(
                        std::min(row.max_requests_lsa_gpu, row.max_requests_lsa_host), 1 << 20));
  row.bytes_per_cycle = bytes_per_request_cycle * row.batch;
  row.link_gbps_needed = row.bytes_per_cycle / row.copy_window_ns;
  row.full_refetch_ns =
      sched::TransferNs(static_cast<int64_t>(row.kmax_pages) * g.slot_bytes(), in.gpu.link_gbps);

  if (row.max_requests_lsa_gpu <= row.max_requests_all_resident) {
    row.limit = "no-gain";
  } else if (row.max_requests_lsa == row.max_requests_lsa_link) {
    row.limit = "link";
  } else if (row.max_requests_lsa == row.max_requests_lsa_host) {
    row.limit = "host-memory";
  } else {
    row.limit = "gpu-memory";
  }
  return row;
}

}  // namespace fm::plan
