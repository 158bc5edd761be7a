#pragma once
// Log-binned histogram of non-negative integer samples (fetch latencies in ns, or ns per KiB) and
// the percentile arithmetic the latency view and the stats table share. The binning is the same
// log2 x 8 sub-bucket scheme as the runtime's Snapshot Latency section (traces/snapshot.h), so a
// histogram from a snapshot and one built from events can be added bucket for bucket.

#include <cstdint>
#include <span>
#include <vector>

namespace fm::ui {

// Values 0..7 get exact buckets; above that each power of two is cut into 8 equal sub-buckets, so a
// bucket is at most 1/8 of its lower bound wide (12.5 % resolution) over the whole u64 range.
inline constexpr int kLogSubBuckets = 8;
inline constexpr int kLogBuckets = 8 + 61 * kLogSubBuckets;

// Bucket of `v`, in [0, kLogBuckets).
int LogBucketOf(uint64_t v);
// Smallest value that falls in `bucket` (bucket in [0, kLogBuckets)).
uint64_t LogBucketLower(int bucket);
// Largest value that falls in `bucket`.
uint64_t LogBucketUpper(int bucket);

// A fixed-size histogram over LogBucketOf with exact count, min, max and sum. Adding is O(1); the
// memory is constant (kLogBuckets counters), so it is safe to build one per frame per range.
class LogHistogram {
 public:
  LogHistogram();

  void Add(uint64_t v, uint64_t count = 1);
  // Adds a histogram in the runtime's layout: counts[i] is the count of bucket i (size may be
  // shorter than kLogBuckets; entries beyond kLogBuckets are ignored). min/max become bucket bounds.
  void AddBucketCounts(std::span<const uint64_t> counts);
  void Merge(const LogHistogram& other);
  void Clear();

  uint64_t total() const { return total_; }
  uint64_t min() const { return total_ ? min_ : 0; }
  uint64_t max() const { return total_ ? max_ : 0; }
  double mean() const { return total_ ? sum_ / static_cast<double>(total_) : 0.0; }
  std::span<const uint64_t> counts() const { return counts_; }
  // First and one-past-last non-empty bucket; both 0 when empty.
  int first_bucket() const;
  int end_bucket() const;

  // Value at quantile q in [0, 1] by nearest rank: the upper bound of the bucket that holds the
  // ceil(q * total)-th sample, clamped to [min, max] so p100 is the exact max and small values are
  // exact. 0 when empty.
  uint64_t Percentile(double q) const;

 private:
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
  double sum_ = 0;
};

// Exact nearest-rank quantile of `values` (reordered in place by nth_element): the smallest value
// such that at least ceil(q * n) samples are <= it. 0 for an empty span. q is clamped to [0, 1].
uint64_t ExactPercentile(std::span<uint64_t> values, double q);

// One bar of a histogram as drawn: a merged run of buckets [value_lo, value_hi] with its count.
struct HistogramBar {
  uint64_t value_lo = 0;
  uint64_t value_hi = 0;
  uint64_t count = 0;
};

// Merges the buckets between `first` and `end` (bucket indices) into at most `max_bars` bars of
// (nearly) equal bucket spans, because a log axis of 496 buckets is wider than most canvases.
// Every bucket lands in exactly one bar, so the bar counts sum to the counts in [first, end).
std::vector<HistogramBar> MergeBuckets(const LogHistogram& h, int first, int end, int max_bars);

}  // namespace fm::ui
