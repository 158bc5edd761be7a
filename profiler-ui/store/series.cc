#include "profiler-ui/store/series.h"

namespace fm::ui {
namespace {

template <typename T>
void Permute(std::vector<T>* v, const std::vector<size_t>& idx) {
  std::vector<T> out(idx.size());
  for (size_t i = 0; i < idx.size(); ++i) out[i] = (*v)[idx[i]];
  v->swap(out);
}

std::vector<size_t> OrderOf(const std::vector<int64_t>& t) {
  std::vector<size_t> idx(t.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return t[a] < t[b]; });
  return idx;
}

}  // namespace

void ZoneLane::Sort() {
  if (sorted) return;
  const std::vector<size_t> idx = OrderOf(start_ns);
  Permute(&start_ns, idx);
  Permute(&dur_ns, idx);
  Permute(&name, idx);
  Permute(&arg, idx);
  sorted = true;
}

void CopyLane::Sort() {
  if (sorted) return;
  const std::vector<size_t> idx = OrderOf(start_ns);
  Permute(&issue_ns, idx);
  Permute(&start_ns, idx);
  Permute(&dur_ns, idx);
  Permute(&bytes, idx);
  sorted = true;
}

}  // namespace fm::ui
