#include "clients/kvload/latency_stats.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"

namespace kvserve::load {

double PercentileOfSorted(absl::Span<const double> sorted, double p) {
  if (sorted.empty()) return 0;
  p = std::clamp(p, 0.0, 100.0);
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, sorted.size() - 1);
  const double frac = rank - static_cast<double>(below);
  return sorted[below] + (sorted[above] - sorted[below]) * frac;
}

LatencySummary Summarize(std::vector<double>& samples, absl::Span<const double> percentiles) {
  LatencySummary s;
  for (double p : percentiles) s.percentiles.push_back({p, 0});
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  double sum = 0;
  for (double x : samples) sum += x;
  s.count = static_cast<int64_t>(samples.size());
  s.mean = sum / static_cast<double>(samples.size());
  double squares = 0;
  for (double x : samples) squares += (x - s.mean) * (x - s.mean);
  s.stddev = std::sqrt(squares / static_cast<double>(samples.size()));
  s.min = samples.front();
  s.p50 = PercentileOfSorted(samples, 50);
  s.p90 = PercentileOfSorted(samples, 90);
  s.p99 = PercentileOfSorted(samples, 99);
  s.max = samples.back();
  for (PercentileValue& pv : s.percentiles) pv.value = PercentileOfSorted(samples, pv.p);
  return s;
}

absl::StatusOr<std::vector<double>> ParsePercentiles(absl::string_view text) {
  std::vector<double> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    double p = 0;
    if (!absl::SimpleAtod(part, &p) || !(p >= 0 && p <= 100)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--percentiles: \"", part, "\" is not a number from 0 to 100"));
    }
    if (std::find(out.begin(), out.end(), p) != out.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--percentiles: ", part, " is listed twice"));
    }
    out.push_back(p);
  }
  if (out.empty()) return absl::InvalidArgumentError("--percentiles lists no percentile");
  return out;
}

std::string PercentileLabel(double p) { return absl::StrCat("p", p); }

}  // namespace kvserve::load
