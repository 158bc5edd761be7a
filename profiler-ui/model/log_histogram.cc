#include "profiler-ui/model/log_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace fm::ui {

int LogBucketOf(uint64_t v) {
  if (v < 8) return static_cast<int>(v);
  const int e = 63 - std::countl_zero(v);  // floor(log2 v) >= 3
  const int sub = static_cast<int>((v >> (e - 3)) & 7);
  return 8 + (e - 3) * kLogSubBuckets + sub;
}

uint64_t LogBucketLower(int bucket) {
  if (bucket < 8) return static_cast<uint64_t>(std::max(bucket, 0));
  const int e = (bucket - 8) / kLogSubBuckets + 3;
  const int sub = (bucket - 8) % kLogSubBuckets;
  return (uint64_t{8} + static_cast<uint64_t>(sub)) << (e - 3);
}

uint64_t LogBucketUpper(int bucket) {
  if (bucket >= kLogBuckets - 1) return std::numeric_limits<uint64_t>::max();
  return LogBucketLower(bucket + 1) - 1;
}

LogHistogram::LogHistogram() : counts_(kLogBuckets, 0) {}

void LogHistogram::Add(uint64_t v, uint64_t count) {
  if (count == 0) return;
  counts_[static_cast<size_t>(LogBucketOf(v))] += count;
  if (total_ == 0 || v < min_) min_ = v;
  if (total_ == 0 || v > max_) max_ = v;
  total_ += count;
  sum_ += static_cast<double>(v) * static_cast<double>(count);
}

void LogHistogram::AddBucketCounts(std::span<const uint64_t> counts) {
  const size_t n = std::min(counts.size(), static_cast<size_t>(kLogBuckets));
  for (size_t i = 0; i < n; ++i) {
    const uint64_t c = counts[i];
    if (c == 0) continue;
    const int b = static_cast<int>(i);
    const uint64_t lo = LogBucketLower(b);
    const uint64_t hi = LogBucketUpper(b);
    counts_[i] += c;
    if (total_ == 0 || lo < min_) min_ = lo;
    if (total_ == 0 || hi > max_) max_ = hi;
    total_ += c;
    // The bucket midpoint is the best estimate of the samples' mean we have.
    sum_ += (static_cast<double>(lo) + static_cast<double>(hi)) * 0.5 * static_cast<double>(c);
  }
}

void LogHistogram::Merge(const LogHistogram& other) {
  if (other.total_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = total_ ? std::min(min_, other.min_) : other.min_;
  max_ = total_ ? std::max(max_, other.max_) : other.max_;
  total_ += other.total_;
  sum_ += other.sum_;
}

void LogHistogram::Clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = min_ = max_ = 0;
  sum_ = 0;
}

int LogHistogram::first_bucket() const {
  for (int i = 0; i < kLogBuckets; ++i) {
    if (counts_[static_cast<size_t>(i)] != 0) return i;
  }
  return 0;
}

int LogHistogram::end_bucket() const {
  for (int i = kLogBuckets; i > 0; --i) {
    if (counts_[static_cast<size_t>(i - 1)] != 0) return i;
  }
  return 0;
}

uint64_t LogHistogram::Percentile(double q) const {
  if (total_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(total_))));
  uint64_t seen = 0;
  for (int b = 0; b < kLogBuckets; ++b) {
    seen += counts_[static_cast<size_t>(b)];
    if (seen >= rank) return std::clamp(LogBucketUpper(b), min_, max_);
  }
  return max_;
}

uint64_t ExactPercentile(std::span<uint64_t> values, double q) {
  if (values.empty()) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const size_t n = values.size();
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(n)));
  rank = std::clamp<size_t>(rank, 1, n);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank - 1),
                   values.end());
  return values[rank - 1];
}

std::vector<HistogramBar> MergeBuckets(const LogHistogram& h, int first, int end, int max_bars) {
  std::vector<HistogramBar> bars;
  first = std::clamp(first, 0, kLogBuckets);
  end = std::clamp(end, first, kLogBuckets);
  const int n = end - first;
  if (n == 0 || max_bars <= 0) return bars;
  const int per_bar = (n + max_bars - 1) / max_bars;
  for (int b = first; b < end; b += per_bar) {
    const int last = std::min(b + per_bar, end) - 1;
    HistogramBar bar{LogBucketLower(b), LogBucketUpper(last), 0};
    for (int i = b; i <= last; ++i) bar.count += h.counts()[static_cast<size_t>(i)];
    bars.push_back(bar);
  }
  return bars;
}

}  // namespace fm::ui
