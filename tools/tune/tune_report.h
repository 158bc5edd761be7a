#pragma once
// Presentation of `flashmem tune` results: tables, JSON and the Pareto plot.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "tools/tune/tune_sweep.h"

namespace fm::tune {

// One line per result (all of them when `only_pareto` is false), sorted by bytes per step.
std::string FormatTuneTable(const std::vector<TuneResult>& results, bool only_pareto);

// {"settings": [...], "pareto": [indices], "recommended": index or null, "target_coverage"}.
nlohmann::json TuneToJson(const std::vector<TuneResult>& results, std::optional<size_t> recommended,
                          double target_coverage);

// Coverage vs MB moved per step: every setting as a dot, the frontier as a line, the
// recommendation as its own point. Unavailable on a write error.
absl::Status WriteParetoPlot(const std::vector<TuneResult>& results,
                             std::optional<size_t> recommended, const std::string& path);

}  // namespace fm::tune
