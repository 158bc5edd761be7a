#include <cstdio>
#include <string>

#include "tools/bench/bench_results.h"

namespace fm::bench {
namespace {

const char* RateMetric(const BenchResult& r) {
  if (r.counters.count("bytes_per_second")) return "bytes_per_second";
  if (r.counters.count("items_per_second")) return "items_per_second";
  return nullptr;
}

}  // namespace

void ComputeRatios(std::vector<BenchResult>& results) {
  const BenchResult* baseline = nullptr;
  for (const auto& r : results) {
    if (r.name.find("/baseline") != std::string::npos) {
      baseline = &r;
      break;
    }
  }
  if (baseline == nullptr) return;
  const char* metric = RateMetric(*baseline);
  if (metric == nullptr) return;
  double base = baseline->counters.at(metric);
  if (base <= 0) return;
  for (auto& r : results) {
    auto it = r.counters.find(metric);
    if (it == r.counters.end()) continue;
    r.ratio_to_baseline = it->second / base;
    r.ratio_metric = metric;
  }
}

nlohmann::json ResultsToJson(const std::string& suite, const std::vector<BenchResult>& results) {
  nlohmann::json doc;
  doc["suite"] = suite;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : results) {
    nlohmann::json j;
    j["name"] = r.name;
    j["real_time_ns"] = r.real_time_ns;
    j["iterations"] = r.iterations;
    j["counters"] = r.counters;
    if (r.ratio_to_baseline) {
      j["ratio_to_baseline"] = *r.ratio_to_baseline;
      j["ratio_metric"] = r.ratio_metric;
    }
    if (r.name.find("/baseline") != std::string::npos) doc["baseline"] = r.name;
    arr.push_back(std::move(j));
  }
  doc["results"] = std::move(arr);
  return doc;
}

std::string RatiosTable(const std::vector<BenchResult>& results) {
  std::string out = "\nname                                              time/iter      rate          ratio\n";
  char line[256];
  for (const auto& r : results) {
    std::string rate = "-";
    if (auto it = r.counters.find("bytes_per_second"); it != r.counters.end()) {
      std::snprintf(line, sizeof(line), "%.2f GB/s", it->second / 1e9);
      rate = line;
    } else if (auto it2 = r.counters.find("items_per_second"); it2 != r.counters.end()) {
      std::snprintf(line, sizeof(line), "%.3g /s", it2->second);
      rate = line;
    }
    std::string ratio = r.ratio_to_baseline ? std::to_string(*r.ratio_to_baseline).substr(0, 5) : "-";
    std::snprintf(line, sizeof(line), "%-48s %10.1f us  %-13s %s\n", r.name.c_str(),
                  r.real_time_ns / 1e3, rate.c_str(), ratio.c_str());
    out += line;
  }
  return out;
}

}  // namespace fm::bench
