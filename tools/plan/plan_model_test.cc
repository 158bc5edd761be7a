#include "tools/plan/plan_model.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "tools/plan/plan_report.h"

namespace fm::plan {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

PlanInputs H20Tp8() {
  PlanInputs in;
  in.gpu = *GpuPreset("h20");
  return in;
}

PlanRow Row(int64_t tokens, PlanInputs in = H20Tp8()) {
  absl::StatusOr<PlanRow> r = ComputePlanRow(ModelSpec{}, in, tokens);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : PlanRow{};
}

TEST(PlanModelTest, BytesPerTokenComponentsSumTo3850Point25) {
  const PlanRow r = Row(65536);
  EXPECT_DOUBLE_EQ(r.per_token.c4_kv, 3066.0);
  EXPECT_DOUBLE_EQ(r.per_token.c4_index_keys_target + r.per_token.c4_index_keys_other, 693.0);
  EXPECT_DOUBLE_EQ(r.per_token.c128_kv, 91.25);
  EXPECT_NEAR(r.per_token.total(), 3850.25, 3850.25 * 0.02);
  EXPECT_DOUBLE_EQ(r.per_token.total(), 3850.25);
}

TEST(PlanModelTest, CompressedKvMatchesReferenceTableWithinTwoPercent) {
  const std::pair<int64_t, double> table[] = {
      {65536, 0.235}, {262144, 0.94}, {524288, 1.88}, {1048576, 3.76}};
  for (auto [tokens, gib] : table) {
    const PlanRow r = Row(tokens);
    EXPECT_NEAR(r.per_token.total() * tokens / kGiB, gib, gib * 0.02) << tokens;
  }
}

TEST(PlanModelTest, SglangAdmissionIs15955Point85AtSwaRatioTenth) {
  const PlanRow r = Row(65536);  // default model: flashmem's online c128; SGLang counts rings
  EXPECT_NEAR(r.sglang_admission_bytes_per_token, 15955.85, 15955.85 * 0.02);
  EXPECT_NEAR(r.sglang_admission_bytes_per_token, 15955.85, 1e-6);
  EXPECT_NEAR(r.admission_online_c128_bytes_per_token, 7859.85, 1e-6);
  PlanInputs in = H20Tp8();
  in.swa_ratio = 0.0;
  EXPECT_DOUBLE_EQ(Row(65536, in).sglang_admission_bytes_per_token, 3850.25);
}

TEST(PlanModelTest, PaperResidentKvAtOneMillionIsAbout0Point37GiB) {
  const PlanRow r = Row(1 << 20);
  EXPECT_EQ(r.kmax_pages, 384);
  EXPECT_NEAR(r.lsa_resident_kv_bytes / kGiB, 0.37, 0.37 * 0.02);
}

TEST(PlanModelTest, FixedBytesSplitIntoSwaRingAndCompressorState) {
  const PlanRow r = Row(65536);
  EXPECT_DOUBLE_EQ(r.swa_bytes, 44.0 * 128 * 584);
  EXPECT_DOUBLE_EQ(r.compressor_state_bytes, 1'376'256.0 + 344'064 + 122'880);
}

TEST(PlanModelTest, LsaRequestBytesAddHotPoolWithHeadroom) {
  PlanInputs in = H20Tp8();
  in.headroom = 0.25;
  const PlanRow r = Row(1 << 20, in);
  EXPECT_DOUBLE_EQ(r.lsa_hot_pool_bytes, 386.0 * 784'896 * 1.25);
  EXPECT_DOUBLE_EQ(r.lsa_request_bytes,
                   784.25 * (1 << 20) + r.lsa_hot_pool_bytes + r.fixed_request_bytes);
  EXPECT_DOUBLE_EQ(r.all_resident_request_bytes,
                   std::llround(3850.25 * (1 << 20)) + r.fixed_request_bytes);
  EXPECT_DOUBLE_EQ(r.cold_bytes, 3066.0 * (1 << 20));
}

TEST(PlanModelTest, WeightsSplitFp4ExpertsAndFp8RestOverTp) {
  ModelSpec m;
  EXPECT_EQ(m.routed_expert_params(), int64_t{43} * 256 * 3 * 4096 * 2048);
  const double expected =
      m.routed_expert_params() * 0.53125 + (m.shared_expert_params() + m.other_params) * 1.0;
  EXPECT_DOUBLE_EQ(m.weight_bytes(), expected);
  const PlanRow r = Row(65536);
  EXPECT_DOUBLE_EQ(r.weights_per_gpu_bytes, expected / 8);
  EXPECT_DOUBLE_EQ(r.kv_budget_bytes, 96e9 * 0.88 - expected / 8);
}

TEST(PlanModelTest, ConcurrencyIsBudgetOverPerRequestBytes) {
  const PlanRow r = Row(1 << 20);
  EXPECT_EQ(r.max_requests_all_resident,
            static_cast<int64_t>(r.kv_budget_bytes / r.all_resident_request_bytes));
  EXPECT_EQ(r.max_requests_lsa_gpu, static_cast<int64_t>(r.kv_budget_bytes / r.lsa_request_bytes));
  EXPECT_EQ(r.max_requests_lsa_host, static_cast<int64_t>(1.5e12 / (r.cold_bytes * 8)));
  EXPECT_GT(r.max_requests_lsa, r.max_requests_all_resident);
}

TEST(PlanModelTest, LinkNeedIsChurnedPagesOverPublishWindow) {
  PlanInputs in = H20Tp8();
  in.batch = 10;
  in.churn = 0.5;
  in.tpot_ms = 40;
  in.publish_delay_steps = 8;
  const PlanRow r = Row(1 << 20, in);
  EXPECT_DOUBLE_EQ(r.pages_per_cycle, 0.5 * (384 - 33));
  EXPECT_DOUBLE_EQ(r.bytes_per_cycle, 0.5 * (384 - 33) * 784'896 * 10);
  EXPECT_DOUBLE_EQ(r.copy_window_ns, 8 * 40e6);
  EXPECT_DOUBLE_EQ(r.link_gbps_needed, r.bytes_per_cycle / r.copy_window_ns);
  EXPECT_NEAR(r.full_refetch_ns / 1e6, 6.0, 0.05);  // DESIGN.md §2.3
}

TEST(PlanModelTest, KmaxComesFromFlagThenRatioThenRule) {
  EXPECT_EQ(Row(1 << 19).kmax_pages, 192);  // rule: 3/32 of 2048 pages
  EXPECT_EQ(Row(65536).kmax_pages, 96);     // rule floor
  PlanInputs in = H20Tp8();
  in.kmax_ratio = 0.1;
  EXPECT_EQ(Row(1 << 18, in).kmax_pages, 103);  // ceil(0.1 x 1024)
  in.kmax_pages = 50;
  EXPECT_EQ(Row(1 << 18, in).kmax_pages, 50);
}

TEST(PlanModelTest, PathIMovesOtherIndexKeysToSlotsAndColdPool) {
  PlanInputs in = H20Tp8();
  in.paged_index_keys = true;
  in.batch = 1;
  in.churn = 1.0;
  const PlanRow r = Row(1 << 20, in);
  EXPECT_DOUBLE_EQ(r.lsa_hot_pool_bytes, 386.0 * 936'960 * 1.25);
  EXPECT_DOUBLE_EQ(r.lsa_request_bytes,
                   190.25 * (1 << 20) + r.lsa_hot_pool_bytes + r.fixed_request_bytes);
  EXPECT_DOUBLE_EQ(r.cold_bytes, (3066.0 + 594.0) * (1 << 20));
  EXPECT_DOUBLE_EQ(r.bytes_per_cycle, (384 - 33) * 936'960.0);
}

TEST(PlanModelTest, LimitNamesWhatBinds) {
  PlanInputs in = H20Tp8();
  EXPECT_EQ(Row(1 << 20, in).limit, "gpu-memory");
  in.tpot_ms = 0.01;  // a window too short for any copy: the link binds
  EXPECT_EQ(Row(1 << 20, in).limit, "link");
  in = H20Tp8();
  in.host_memory_bytes = 50e9;
  EXPECT_EQ(Row(1 << 20, in).limit, "host-memory");
  in = H20Tp8();
  in.kmax_pages = 256;  // 64K context has 256 pages: the hot pool costs more than it saves
  EXPECT_EQ(Row(65536, in).limit, "no-gain");
}

TEST(PlanModelTest, BadInputsNameTheFlag) {
  EXPECT_EQ(GpuPreset("a100").status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(GpuPreset("a100").status().message().find("a100"), std::string::npos);
  PlanInputs in = H20Tp8();
  in.gpu.memory_bytes = -1;
  absl::Status s = ComputePlanRow(ModelSpec{}, in, 1024).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--gpu-memory-gb"), std::string::npos) << s;
  in = H20Tp8();
  in.headroom = -0.5;
  EXPECT_NE(ComputePlanRow(ModelSpec{}, in, 1024).status().message().find("--headroom"),
            std::string::npos);
  EXPECT_NE(ComputePlanRow(ModelSpec{}, H20Tp8(), -5).status().message().find("--context"),
            std::string::npos);
  in = H20Tp8();
  in.tp = 1;  // 160 GB of weights on one 96 GB GPU
  EXPECT_EQ(ComputePlanRow(ModelSpec{}, in, 1024).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(PlanModelTest, ConfigJsonOverridesLayerCountsAndRejectsBadTypes) {
  const std::string path = ::testing::TempDir() + "/plan_cfg.json";
  {
    std::ofstream f(path);
    f << R"({"hidden_size": 4096, "compress_ratios": [4, 4, 4, 4, 128, 0], "sliding_window": 64})";
  }
  absl::StatusOr<ModelSpec> m = LoadModelSpec(path);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->capacity.geometry.csa_layers, 4);
  EXPECT_EQ(m->capacity.hca_layers, 1);
  EXPECT_EQ(m->capacity.swa_layers, 6);
  EXPECT_EQ(m->capacity.swa_window_tokens, 64);
  {
    std::ofstream f(path);
    f << R"({"hidden_size": "big"})";
  }
  absl::Status s = LoadModelSpec(path).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("hidden_size"), std::string::npos) << s;
  EXPECT_EQ(LoadModelSpec(path + ".missing").status().code(), absl::StatusCode::kNotFound);
  std::remove(path.c_str());
}

TEST(PlanReportTest, JsonCarriesBytesPerTokenAndSizesInBytes) {
  const PlanInputs in = H20Tp8();
  const std::vector<PlanRow> rows = {Row(1 << 20)};
  const nlohmann::json j = PlanToJson(ModelSpec{}, in, rows);
  EXPECT_DOUBLE_EQ(j["rows"][0]["bytes_per_token"]["total"].get<double>(), 3850.25);
  EXPECT_DOUBLE_EQ(j["rows"][0]["cold_bytes"].get<double>(), 3066.0 * (1 << 20));
  EXPECT_EQ(j["rows"][0]["kmax_pages"].get<int>(), 384);
  const std::string table = FormatPlanTable(ModelSpec{}, in, rows);
  EXPECT_NE(table.find("3850.25"), std::string::npos);
  EXPECT_NE(table.find("1M"), std::string::npos);
  EXPECT_NE(PlanExplanation().find("15955.85"), std::string::npos);
}

}  // namespace
}  // namespace fm::plan
