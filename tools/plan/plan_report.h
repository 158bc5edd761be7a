#pragma once
// Presentation of `flashmem plan` rows: a text table, JSON (bytes per token in bytes, sizes in
// bytes), the --explain text and the two plots.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "tools/plan/plan_model.h"

namespace fm::plan {

// Human-readable table: per-token components, then one row per context length.
std::string FormatPlanTable(const ModelSpec& model, const PlanInputs& in,
                            const std::vector<PlanRow>& rows);

// The same figures as JSON: {"model", "inputs", "rows": [...]}.
nlohmann::json PlanToJson(const ModelSpec& model, const PlanInputs& in,
                          const std::vector<PlanRow>& rows);

// What every term means and how it is computed (`--explain`).
std::string PlanExplanation();

// Writes `<prefix>_bytes.svg` (GPU bytes per request vs context, with and without LSA) and
// `<prefix>_concurrency.svg` (max concurrent requests vs context). Unavailable on a write error.
absl::Status WritePlanPlots(const std::vector<PlanRow>& rows, const std::string& prefix);

}  // namespace fm::plan
