#include "tools/plan/plan_report.h"

#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "tools/plot/svg_plot.h"

namespace fm::plan {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string Gib(double bytes) { return absl::StrFormat("%.3f", bytes / kGiB); }

}  // namespace

std::string FormatPlanTable(const ModelSpec& model, const PlanInputs& in,
                            const std::vector<PlanRow>& rows) {
  std::string o;
  absl::StrAppendFormat(&o,
                        "model %s | GPU %s %.0f GB, link %.0f GB/s | tp %d | mem-fraction %.2f | "
                        "tau %d | headroom %.2f | churn %.2f | TPOT %.1f ms | Δ %d steps\n",
                        model.name, in.gpu.name, in.gpu.memory_bytes / 1e9, in.gpu.link_gbps, in.tp,
                        in.mem_fraction, in.tau_steps, in.headroom, in.churn, in.tpot_ms,
                        in.publish_delay_steps);
  if (rows.empty()) return o;
  const PlanRow& r0 = rows.front();
  absl::StrAppendFormat(&o,
                        "bytes per context token: c4 KV %.2f + index keys %.2f (target %.2f, other "
                        "%.2f) + c128 KV %.2f = %.2f B\n",
                        r0.per_token.c4_kv,
                        r0.per_token.c4_index_keys_target + r0.per_token.c4_index_keys_other,
                        r0.per_token.c4_index_keys_target, r0.per_token.c4_index_keys_other,
                        r0.per_token.c128_kv, r0.per_token.total());
  absl::StrAppendFormat(
      &o,
      "per request, any length: SWA ring %.2f MB + compressor state %.2f MB = "
      "%.2f MB; SGLang admission at swa ratio %.2f: %.2f B/token (%.2f with online "
      "c128)\n",
      r0.swa_bytes / 1e6, r0.compressor_state_bytes / 1e6, r0.fixed_request_bytes / 1e6,
      in.swa_ratio, r0.sglang_admission_bytes_per_token, r0.admission_online_c128_bytes_per_token);
  absl::StrAppendFormat(&o, "weights %.1f GB per GPU; KV budget %.1f GB per GPU\n\n",
                        r0.weights_per_gpu_bytes / 1e9, r0.kv_budget_bytes / 1e9);
  absl::StrAppendFormat(&o, "%8s %5s | %9s %9s %9s %9s | %6s %6s %6s %6s | %9s %9s %8s | %s\n",
                        "context", "kmax", "KV GiB", "all GiB", "LSA GiB", "cold GiB", "n all",
                        "n LSA", "n host", "n link", "MB/cycle", "GB/s need", "refetch", "limit");
  for (const PlanRow& r : rows) {
    absl::StrAppendFormat(
        &o, "%8s %5d | %9s %9s %9s %9s | %6d %6d %6d %6d | %9.1f %9.2f %6.1fms | %s\n",
        plot::FormatTokens(static_cast<double>(r.context_tokens)), r.kmax_pages,
        Gib(r.per_token.total() * r.context_tokens), Gib(r.all_resident_request_bytes),
        Gib(r.lsa_request_bytes), Gib(r.cold_bytes), r.max_requests_all_resident,
        r.max_requests_lsa, r.max_requests_lsa_host, r.max_requests_lsa_link,
        r.bytes_per_cycle / 1e6, r.link_gbps_needed, r.full_refetch_ns / 1e6, r.limit);
  }
  o += "\nKV GiB: compressed KV alone (3850.25 B/token); all/LSA GiB: GPU bytes per request; "
       "n: max concurrent requests per replica (LSA = min of GPU, host, link); MB/cycle and GB/s "
       "at the batch decoding together; see --explain.\n";
  return o;
}

nlohmann::json PlanToJson(const ModelSpec& model, const PlanInputs& in,
                          const std::vector<PlanRow>& rows) {
  nlohmann::json j;
  j["model"] = {{"name", model.name}, {"weight_bytes", model.weight_bytes()}};
  j["inputs"] = {{"gpu", in.gpu.name},
                 {"gpu_memory_bytes", in.gpu.memory_bytes},
                 {"link_gbps", in.gpu.link_gbps},
                 {"tp", in.tp},
                 {"mem_fraction", in.mem_fraction},
                 {"tau_steps", in.tau_steps},
                 {"kmax_pages", in.kmax_pages},
                 {"kmax_ratio", in.kmax_ratio},
                 {"headroom", in.headroom},
                 {"churn", in.churn},
                 {"tpot_ms", in.tpot_ms},
                 {"publish_delay_steps", in.publish_delay_steps},
                 {"host_memory_bytes", in.host_memory_bytes},
                 {"swa_ratio", in.swa_ratio},
                 {"paged_index_keys", in.paged_index_keys}};
  nlohmann::json out_rows = nlohmann::json::array();
  for (const PlanRow& r : rows) {
    out_rows.push_back(
        {{"context_tokens", r.context_tokens},
         {"context_pages", r.context_pages},
         {"kmax_pages", r.kmax_pages},
         {"bytes_per_token",
          {{"c4_kv", r.per_token.c4_kv},
           {"c4_index_keys_target", r.per_token.c4_index_keys_target},
           {"c4_index_keys_other", r.per_token.c4_index_keys_other},
           {"c128_kv", r.per_token.c128_kv},
           {"total", r.per_token.total()}}},
         {"kv_bytes", r.per_token.total() * r.context_tokens},
         {"swa_bytes", r.swa_bytes},
         {"compressor_state_bytes", r.compressor_state_bytes},
         {"fixed_request_bytes", r.fixed_request_bytes},
         {"sglang_admission_bytes_per_token", r.sglang_admission_bytes_per_token},
         {"admission_online_c128_bytes_per_token", r.admission_online_c128_bytes_per_token},
         {"all_resident_request_bytes", r.all_resident_request_bytes},
         {"lsa_request_bytes", r.lsa_request_bytes},
         {"lsa_hot_pool_bytes", r.lsa_hot_pool_bytes},
         {"lsa_resident_kv_bytes", r.lsa_resident_kv_bytes},
         {"cold_bytes", r.cold_bytes},
         {"weights_per_gpu_bytes", r.weights_per_gpu_bytes},
         {"kv_budget_bytes", r.kv_budget_bytes},
         {"max_requests_all_resident", r.max_requests_all_resident},
         {"max_requests_lsa_gpu", r.max_requests_lsa_gpu},
         {"max_requests_lsa_host", r.max_requests_lsa_host},
         {"max_requests_lsa_link", r.max_requests_lsa_link},
         {"max_requests_lsa", r.max_requests_lsa},
         {"batch", r.batch},
         {"pages_per_cycle", r.pages_per_cycle},
         {"bytes_per_cycle", r.bytes_per_cycle},
         {"copy_window_ns", r.copy_window_ns},
         {"link_gbps_needed", r.link_gbps_needed},
         {"full_refetch_ns", r.full_refetch_ns},
         {"limit", r.limit}});
  }
  j["rows"] = std::move(out_rows);
  return j;
}

std::string PlanExplanation() {
  return R"(flashmem plan: every term (DESIGN.md §2, spec §3.3; all TP ranks hold a full KV replica)
c4 KV          csa_layers x 584 B / 4 tokens per chunk = 3066 B/token. With LSA it lives in the
               pinned host cold pool; only selected pages are on the GPU.
index keys     csa_layers x 132 B / 4 = 693 B/token: 99 for the 3 target (Level-1) layers, always on
               the GPU; 594 for the others, on the GPU unless --paged-index-keys (Path-I).
c128 KV        hca_layers x 584 B / 128 = 91.25 B/token, always on the GPU.
total          3850.25 B/token of compressed KV: 0.235/0.94/1.88/3.76 GiB at 64K/256K/512K/1M.
SWA ring       swa_layers x window x 584 B = 3.29 MB per request, any length.
compressor     c4 (21 x 8 x 8 KiB), indexer (21 x 8 x 2 KiB), c128 online (20 x 6 KiB): 1.84 MB.
admission      SGLang's per-token budget: 3850.25 + swa_ratio x (SWA + states per SWA page);
               15955.85 B/token at ratio 0.1 with ring c128 states (7859.85 with online c128).
all-resident   GPU per request = total x L + SWA + compressor state.
kmax           pages kept per request: --kmax, else ceil(--kmax-ratio x pages), else the rule
               96/192/384 at 256K/512K/1M (3/32 of the pages, never below 96).
hot pool       (kmax + 2) slots x 784,896 B x (1 + headroom): +2 = current and spare tail page.
LSA            GPU per request = (99 + 91.25 [+ 594 unless Path-I]) B x L + hot pool + SWA + state.
resident KV    the paper's "physical KV": (kmax + 2) slots + c128 KV; ~0.37 GiB at 1M, KMAX 384.
cold           host bytes per request per rank: 3066 B x L (+ 594 B x L with Path-I).
weights        routed experts FP4 (0.53125 B/param) + the rest FP8, divided by tp.
KV budget      GPU memory x mem-fraction - weights per GPU.
n all / n LSA  floor(KV budget / GPU per request); LSA is also capped by host memory
               (host / (cold x tp)) and by the link (requests whose copies fit in the window).
MB/cycle       churn x (kmax - forced tail pages 33) pages x slot bytes x batch, per GPU link.
GB/s need      MB/cycle / (Δ x TPOT): copies must land within the publish delay Δ.
refetch        time to move all kmax pages of one request over the link (worst case cycle).
limit          what caps LSA concurrency: gpu-memory, host-memory, link; no-gain when
               all-resident admits as many (short contexts: the hot pool costs more than it saves).
)";
}

absl::Status WritePlanPlots(const std::vector<PlanRow>& rows, const std::string& prefix) {
  plot::PlotSpec bytes;
  bytes.title = "GPU memory per request";
  bytes.x_label = "context length (tokens)";
  bytes.y_label = "GiB per request";
  bytes.log2_x = true;
  bytes.x_tick_format = plot::FormatTokens;
  plot::Series all{"all-resident", {}, {}}, lsa{"LSA, all GPU bytes", {}, {}},
      kv{"resident KV (paper)", {}, {}};
  plot::PlotSpec conc = bytes;
  conc.title = "Max concurrent requests per replica";
  conc.y_label = "requests";
  plot::Series call{"all-resident", {}, {}}, clsa{"LSA", {}, {}};
  for (const PlanRow& r : rows) {
    const double x = static_cast<double>(r.context_tokens);
    all.x.push_back(x);
    all.y.push_back(r.all_resident_request_bytes / kGiB);
    lsa.x.push_back(x);
    lsa.y.push_back(r.lsa_request_bytes / kGiB);
    kv.x.push_back(x);
    kv.y.push_back(r.lsa_resident_kv_bytes / kGiB);
    call.x.push_back(x);
    call.y.push_back(static_cast<double>(r.max_requests_all_resident));
    clsa.x.push_back(x);
    clsa.y.push_back(static_cast<double>(r.max_requests_lsa));
  }
  bytes.series = {all, lsa, kv};
  conc.series = {call, clsa};
  FM_RETURN_IF_ERROR(plot::WriteSvg(bytes, prefix + "_bytes.svg"));
  return plot::WriteSvg(conc, prefix + "_concurrency.svg");
}

}  // namespace fm::plan
