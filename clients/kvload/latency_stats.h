// Latency statistics: mean, standard deviation and percentiles of a sample.
//
// Percentile(p) interpolates linearly between the two nearest order statistics (the "linear"
// method, numpy's default): with sorted samples x[0..n-1], rank = p/100 * (n-1). So p0 is the
// minimum, p100 the maximum and p50 the usual median.
//
// Threads: plain functions and values; no shared state.
#ifndef KVSERVE_CLIENTS_KVLOAD_LATENCY_STATS_H_
#define KVSERVE_CLIENTS_KVLOAD_LATENCY_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kvserve::load {

// The p-th percentile (0 <= p <= 100) of samples sorted ascending; 0 for an empty sample.
double PercentileOfSorted(absl::Span<const double> sorted, double p);

// One requested percentile and its value.
struct PercentileValue {
  double p = 0;  // 0..100
  double value = 0;
};

// The percentiles reported unless asked otherwise (--percentiles).
inline constexpr double kDefaultPercentiles[] = {50, 90, 99};

// Summary of one metric. All fields are 0 for an empty sample. p50, p90 and p99 are always
// filled (sweep tables and plots use them); `percentiles` holds the requested ones, in order.
struct LatencySummary {
  int64_t count = 0;
  double mean = 0;
  double stddev = 0;  // population standard deviation (numpy's np.std, as vLLM reports)
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  std::vector<PercentileValue> percentiles;
};

// Summarizes `samples` (any order; sorted in place) with the given percentiles (each 0..100).
LatencySummary Summarize(std::vector<double>& samples,
                         absl::Span<const double> percentiles = kDefaultPercentiles);

// "50,90,99,99.9" → {50, 90, 99, 99.9}: each in [0, 100], at least one, no duplicates.
absl::StatusOr<std::vector<double>> ParsePercentiles(absl::string_view text);

// "p99.9", "p50": the label of a percentile in tables and JSON keys.
std::string PercentileLabel(double p);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_LATENCY_STATS_H_
