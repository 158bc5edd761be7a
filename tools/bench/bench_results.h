#pragma once
// Benchmark results and their ratios against the baseline measured in the same run.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fm::bench {

struct BenchResult {
  std::string name;
  double real_time_ns = 0;  // per iteration
  int64_t iterations = 0;
  std::map<std::string, double> counters;  // bytes_per_second, items_per_second and user counters
  std::optional<double> ratio_to_baseline;  // throughput / baseline throughput
  std::string ratio_metric;                 // "bytes_per_second" or "items_per_second"
};

// The suite's baseline is the first result whose name contains "/baseline". Every other result
// that reports the same rate counter gets ratio = its rate / the baseline's rate.
void ComputeRatios(std::vector<BenchResult>& results);

nlohmann::json ResultsToJson(const std::string& suite, const std::vector<BenchResult>& results);

// A plain-text table: name, time, GB/s or items/s, ratio.
std::string RatiosTable(const std::vector<BenchResult>& results);

}  // namespace fm::bench
