#pragma once
// Struct-of-arrays containers of the store: time-sorted so views cull with lower_bound.

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace fm::ui {

// A sampled value over time (a counter, or a series derived from events).
struct Series {
  std::vector<int64_t> t_ns;
  std::vector<double> v;
  bool sorted = true;

  size_t size() const { return t_ns.size(); }
  bool empty() const { return t_ns.empty(); }
  void Push(int64_t t, double value) {
    if (!t_ns.empty() && t < t_ns.back()) sorted = false;
    t_ns.push_back(t);
    v.push_back(value);
  }
  // Restores time order after out-of-order pushes (stable, so equal times keep arrival order).
  void Sort() {
    if (sorted) return;
    std::vector<size_t> idx(t_ns.size());
    std::iota(idx.begin(), idx.end(), size_t{0});
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return t_ns[a] < t_ns[b]; });
    std::vector<int64_t> t2(idx.size());
    std::vector<double> v2(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) {
      t2[i] = t_ns[idx[i]];
      v2[i] = v[idx[i]];
    }
    t_ns.swap(t2);
    v.swap(v2);
    sorted = true;
  }
};

// Zones of one track (a thread, or a GPU stream lane), sorted by start time.
struct ZoneLane {
  uint16_t track = 0;
  std::vector<int64_t> start_ns;
  std::vector<int64_t> dur_ns;
  std::vector<uint32_t> name;  // StringId
  std::vector<uint64_t> arg;
  int64_t max_dur_ns = 0;      // lets a view start its lower_bound early enough for long zones
  bool sorted = true;
  size_t size() const { return start_ns.size(); }
  void Push(int64_t s, int64_t d, uint32_t n, uint64_t a) {
    if (!start_ns.empty() && s < start_ns.back()) sorted = false;
    start_ns.push_back(s);
    dur_ns.push_back(d);
    name.push_back(n);
    arg.push_back(a);
    max_dur_ns = std::max(max_dur_ns, d);
  }
  void Sort();
};

// One host-to-device (or back) copy, joined from CopyIssue and CopyDone by copy id.
struct CopyLane {
  uint16_t track = 0;                 // the stream lane of CopyDone
  std::vector<int64_t> issue_ns;      // host submit
  std::vector<int64_t> start_ns;      // GPU start
  std::vector<int64_t> dur_ns;        // GPU duration
  std::vector<uint64_t> bytes;
  int64_t max_dur_ns = 0;
  bool sorted = true;
  size_t size() const { return start_ns.size(); }
  void Push(int64_t issue, int64_t start, int64_t dur, uint64_t b) {
    if (!start_ns.empty() && start < start_ns.back()) sorted = false;
    issue_ns.push_back(issue);
    start_ns.push_back(start);
    dur_ns.push_back(dur);
    bytes.push_back(b);
    max_dur_ns = std::max(max_dur_ns, dur);
  }
  void Sort();
};

}  // namespace fm::ui
