#include "tools/tune/tune_sweep.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <tuple>

#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "common/status_macros.h"
#include "scheduler/selection_policy.h"

namespace fm::tune {
namespace {

constexpr int32_t kKmaxMax = 1 << 20;

// Index of the snapshot at `step`, or -1.
int64_t FindBoundary(const RequestTrace& r, int64_t step) {
  auto it = std::lower_bound(r.boundaries.begin(), r.boundaries.end(), step,
                             [](const ScoreSnapshot& s, int64_t v) { return s.step < v; });
  if (it == r.boundaries.end() || it->step != step) return -1;
  return it - r.boundaries.begin();
}

// Per-page densities of every snapshot for one threshold, computed on first use.
class DensityCache {
 public:
  DensityCache(const TuneTrace& t, double threshold) : trace_(t), threshold_(threshold) {
    for (int q = 0; q < 256; ++q) lut_[q] = static_cast<float>(q) / 255.0f;
    density_.resize(t.requests.size());
    for (size_t i = 0; i < t.requests.size(); ++i) {
      density_[i].resize(t.requests[i].boundaries.size());
    }
  }

  absl::StatusOr<absl::Span<const uint8_t>> Get(size_t request, size_t boundary) {
    std::vector<uint8_t>& d = density_[request][boundary];
    if (d.empty()) {
      const ScoreSnapshot& s = trace_.requests[request].boundaries[boundary];
      probs_.resize(static_cast<size_t>(s.layers * s.n_chunks));
      std::vector<absl::Span<const float>> rows;
      for (int32_t l = 0; l < s.layers; ++l) {
        float* row = probs_.data() + int64_t{l} * s.n_chunks;
        const uint8_t* q = s.sigma_q.data() + int64_t{l} * s.n_chunks;
        for (int64_t j = 0; j < s.n_chunks; ++j) row[j] = lut_[q[j]];
        rows.emplace_back(row, static_cast<size_t>(s.n_chunks));
      }
      FM_RETURN_IF_ERROR(
          sched::ComputePageDensity(rows, s.n_chunks, threshold_, trace_.geometry, &d));
    }
    return absl::Span<const uint8_t>(d);
  }

 private:
  const TuneTrace& trace_;
  double threshold_;
  float lut_[256];
  std::vector<std::vector<std::vector<uint8_t>>> density_;
  std::vector<float> probs_;
};

// Replays one setting. `cache` holds densities for setting.threshold.
absl::StatusOr<TuneResult> Replay(const TuneTrace& t, const TuneSetting& setting,
                                  const LinkModel& link, DensityCache* cache,
                                  sched::Selection* sel) {
  const sched::GeometryConfig& g = t.geometry;
  sched::PolicyParams params;
  params.threshold = setting.threshold;
  params.kmax_pages = setting.kmax_pages;
  params.tail_chunks = setting.tail_chunks;
  TuneResult res;
  res.setting = setting;
  std::map<int64_t, double> bytes_at_boundary;  // step -> bytes of all requests
  int64_t moved_pages = 0, moved_cycles = 0;
  int64_t first_step = INT64_MAX, last_step = INT64_MIN;
  std::vector<uint8_t> resident, previous;
  for (size_t ri = 0; ri < t.requests.size(); ++ri) {
    const RequestTrace& r = t.requests[ri];
    const PickPages& p = r.picks;
    int64_t cycle_step = -1, tail_page = -1;
    bool have_selection = false;
    int32_t kmax_last = 0;
    resident.clear();
    for (size_t si = 0; si < p.steps.size(); ++si) {
      const int64_t s = p.steps[si];
      const int64_t b = s / setting.tau_steps * setting.tau_steps;
      if (b != cycle_step) {
        const int64_t bi = FindBoundary(r, b);
        if (bi < 0) {
          if (!have_selection) continue;  // before the first recorded boundary: not replayed
          return absl::FailedPreconditionError(absl::StrFormat(
              "tau %d needs Scores at step %d of request %d, which the trace does not hold",
              setting.tau_steps, b, r.request_id));
        }
        const ScoreSnapshot& snap = r.boundaries[static_cast<size_t>(bi)];
        FM_ASSIGN_OR_RETURN(absl::Span<const uint8_t> density,
                            cache->Get(ri, static_cast<size_t>(bi)));
        const int64_t pages = sched::PagesForChunks(snap.n_chunks, g);
        const int32_t kmax = sched::EffectiveKmaxPages(params, pages, kKmaxMax);
        FM_RETURN_IF_ERROR(sched::SelectPages(density, snap.n_chunks, params, kmax, g, sel));
        previous.swap(resident);
        resident.assign(static_cast<size_t>(pages) + 2, 0);
        int64_t fresh = 0;
        for (sched::PageIndex page : sel->ascending) {
          resident[static_cast<size_t>(page.v)] = 1;
          if (static_cast<size_t>(page.v) >= previous.size() || !previous[page.v]) ++fresh;
        }
        const double bytes = static_cast<double>(fresh) * static_cast<double>(t.slot_bytes);
        if (have_selection) {
          moved_pages += fresh;
          ++moved_cycles;
          bytes_at_boundary[b] += bytes;
        } else {
          res.initial_fill_bytes += bytes;
        }
        tail_page = snap.n_chunks > 0 ? sched::PagesForChunks(snap.n_chunks, g) - 1 : 0;
        kmax_last = kmax;
        cycle_step = b;
        have_selection = true;
        ++res.cycles;
      }
      first_step = std::min(first_step, s);
      last_step = std::max(last_step, s);
      for (uint32_t k = p.begin[si]; k < p.begin[si + 1]; ++k) {
        const int64_t page = p.page[k];
        const bool hit = (page >= 0 && static_cast<size_t>(page) < resident.size() &&
                          resident[static_cast<size_t>(page)]) ||
                         page == tail_page || page == tail_page + 1;
        res.picks += p.count[k];
        if (hit) res.covered += p.count[k];
      }
    }
    if (have_selection) {
      const double slots = std::ceil((kmax_last + 2.0) * (1.0 + link.headroom) - 1e-9);
      res.hot_pool_bytes += static_cast<int64_t>(slots) * t.slot_bytes;
    }
  }
  res.coverage = res.picks > 0 ? static_cast<double>(res.covered) / res.picks : 0.0;
  const double steps =
      last_step >= first_step ? static_cast<double>(last_step - first_step + 1) : 1;
  double total_bytes = 0, stall_ns = 0;
  const double window_ns = link.publish_delay_steps * link.tpot_ms * 1e6;
  for (auto [step, bytes] : bytes_at_boundary) {
    total_bytes += bytes;
    const double stall = std::max(0.0, bytes / link.link_gbps - window_ns);
    stall_ns += stall;
    res.max_stall_ms = std::max(res.max_stall_ms, stall / 1e6);
  }
  res.pages_per_cycle = moved_cycles > 0 ? static_cast<double>(moved_pages) / moved_cycles : 0;
  res.bytes_per_cycle = res.pages_per_cycle * static_cast<double>(t.slot_bytes);
  res.bytes_per_step = total_bytes / steps;
  res.stall_ms_per_step = stall_ns / 1e6 / steps;
  return res;
}

}  // namespace

absl::Status ValidateGrid(const TuneTrace& trace, const TuneGrid& grid, const LinkModel& link) {
  if (grid.size() == 0) {
    return absl::InvalidArgumentError(
        "tune grid is empty: every --tau/--threshold/--kmax/--tail "
        "list needs at least one value");
  }
  for (int32_t tau : grid.taus) {
    if (tau < 1 || tau > 4096) {
      return absl::InvalidArgumentError(absl::StrFormat("--tau %d, expected in [1, 4096]", tau));
    }
    const int64_t interval = trace.score_interval_steps;
    if (interval > 0 && tau % interval != 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--tau %d is not a multiple of the trace's Scores interval (%d steps)", tau, interval));
    }
  }
  sched::PolicyParams p;
  for (double thr : grid.thresholds) {
    p.threshold = thr;
    if (absl::Status s = p.Validate(kKmaxMax); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat("--threshold %g: %s", thr, s.message()));
    }
  }
  p = sched::PolicyParams{};
  for (int32_t k : grid.kmaxes) {
    p.kmax_pages = k;
    if (absl::Status s = p.Validate(kKmaxMax); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat("--kmax %d: %s", k, s.message()));
    }
  }
  for (int64_t tail : grid.tails) {
    if (tail < 0)
      return absl::InvalidArgumentError(absl::StrFormat("--tail %d, expected >= 0", tail));
  }
  if (!(link.link_gbps > 0) || !(link.tpot_ms > 0) || link.publish_delay_steps < 1 ||
      !(link.headroom >= 0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--link-gbps %g / --tpot-ms %g / --publish-delay %d / --headroom %g: expected > 0, > 0, "
        ">= 1, >= 0",
        link.link_gbps, link.tpot_ms, link.publish_delay_steps, link.headroom));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TuneResult>> RunSweep(const TuneTrace& trace, const TuneGrid& grid,
                                                 const LinkModel& link) {
  FM_RETURN_IF_ERROR(ValidateGrid(trace, grid, link));
  std::vector<TuneResult> out(grid.size());
  sched::Selection sel;
  // Threshold-major so each threshold's densities are computed once and shared by the settings.
  for (size_t ti = 0; ti < grid.thresholds.size(); ++ti) {
    DensityCache cache(trace, grid.thresholds[ti]);
    for (size_t a = 0; a < grid.taus.size(); ++a) {
      for (size_t k = 0; k < grid.kmaxes.size(); ++k) {
        for (size_t l = 0; l < grid.tails.size(); ++l) {
          TuneSetting s{grid.taus[a], grid.thresholds[ti], grid.kmaxes[k], grid.tails[l]};
          const size_t index =
              ((a * grid.thresholds.size() + ti) * grid.kmaxes.size() + k) * grid.tails.size() + l;
          FM_ASSIGN_OR_RETURN(out[index], Replay(trace, s, link, &cache, &sel));
        }
      }
    }
  }
  MarkPareto(&out);
  return out;
}

void MarkPareto(std::vector<TuneResult>* results) {
  std::vector<size_t> order(results->size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const TuneResult& x = (*results)[a];
    const TuneResult& y = (*results)[b];
    if (x.bytes_per_step != y.bytes_per_step) return x.bytes_per_step < y.bytes_per_step;
    return x.coverage > y.coverage;
  });
  // Settings tied with a frontier point on both axes are on the frontier too.
  double best = -1, best_bytes = -1;
  for (size_t i : order) {
    TuneResult& r = (*results)[i];
    r.pareto = r.coverage > best || (r.coverage == best && r.bytes_per_step == best_bytes);
    if (r.coverage > best) {
      best = r.coverage;
      best_bytes = r.bytes_per_step;
    }
  }
}

std::optional<size_t> Recommend(const std::vector<TuneResult>& results, double target_coverage) {
  // Stalls cost time on every request, then GPU memory is what LSA exists to save, then link
  // bytes; fewer planner runs (larger τ) break the last tie.
  auto key = [&](size_t i) {
    const TuneResult& r = results[i];
    return std::make_tuple(std::round(r.stall_ms_per_step * 1e6), r.hot_pool_bytes,
                           r.bytes_per_step, -r.setting.tau_steps);
  };
  std::optional<size_t> best;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].coverage + 1e-12 < target_coverage) continue;
    if (!best || key(i) < key(*best)) best = i;
  }
  return best;
}

}  // namespace fm::tune
