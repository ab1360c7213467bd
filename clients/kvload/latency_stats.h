// Latency statistics: mean and percentiles of a sample.
//
// Percentile(p) interpolates linearly between the two nearest order statistics (the "linear"
// method, numpy's default): with sorted samples x[0..n-1], rank = p/100 * (n-1). So p0 is the
// minimum, p100 the maximum and p50 the usual median.
//
// Threads: plain functions and values; no shared state.
#ifndef KVSERVE_CLIENTS_KVLOAD_LATENCY_STATS_H_
#define KVSERVE_CLIENTS_KVLOAD_LATENCY_STATS_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace kvserve::load {

// The p-th percentile (0 <= p <= 100) of samples sorted ascending; 0 for an empty sample.
double PercentileOfSorted(absl::Span<const double> sorted, double p);

// Summary of one metric. All fields are 0 for an empty sample.
struct LatencySummary {
  int64_t count = 0;
  double mean = 0;
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
};

// Summarizes `samples` (any order; sorted in place).
LatencySummary Summarize(std::vector<double>& samples);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_LATENCY_STATS_H_
