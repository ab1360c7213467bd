#include "clients/kvload/latency_stats.h"

#include <vector>

#include "gtest/gtest.h"

namespace kvserve::load {
namespace {

TEST(LatencyStatsTest, PercentilesInterpolateLinearly) {
  // 1..100: rank = p/100 * 99, so p50 = 50.5, p90 = 90.1, p99 = 99.01.
  std::vector<double> samples;
  for (int i = 100; i >= 1; --i) samples.push_back(i);
  const LatencySummary s = Summarize(samples);
  EXPECT_EQ(s.count, 100);
  EXPECT_DOUBLE_EQ(s.mean, 50.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 100);
  EXPECT_NEAR(s.p50, 50.5, 1e-9);
  EXPECT_NEAR(s.p90, 90.1, 1e-9);
  EXPECT_NEAR(s.p99, 99.01, 1e-9);
}

TEST(LatencyStatsTest, SmallSamples) {
  const std::vector<double> sorted = {10, 20, 30, 40};
  EXPECT_DOUBLE_EQ(PercentileOfSorted(sorted, 0), 10);
  EXPECT_DOUBLE_EQ(PercentileOfSorted(sorted, 100), 40);
  EXPECT_DOUBLE_EQ(PercentileOfSorted(sorted, 50), 25);                 // rank 1.5
  EXPECT_NEAR(PercentileOfSorted(sorted, 90), 37, 1e-9);                // rank 2.7
  EXPECT_NEAR(PercentileOfSorted(sorted, 99), 39.7, 1e-9);              // rank 2.97
  EXPECT_DOUBLE_EQ(PercentileOfSorted(std::vector<double>{7}, 99), 7);  // one sample
}

TEST(LatencyStatsTest, EmptySampleIsAllZero) {
  std::vector<double> none;
  const LatencySummary s = Summarize(none);
  EXPECT_EQ(s.count, 0);
  EXPECT_EQ(s.p99, 0);
  EXPECT_EQ(s.max, 0);
  EXPECT_EQ(PercentileOfSorted(none, 50), 0);
}

TEST(LatencyStatsTest, OutOfRangePercentileIsClamped) {
  const std::vector<double> sorted = {1, 2, 3};
  EXPECT_DOUBLE_EQ(PercentileOfSorted(sorted, -5), 1);
  EXPECT_DOUBLE_EQ(PercentileOfSorted(sorted, 150), 3);
}

TEST(LatencyStatsTest, StandardDeviationIsThePopulationOne) {
  // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population std 2 (numpy's np.std default).
  std::vector<double> samples = {9, 2, 4, 4, 5, 4, 5, 7};
  const LatencySummary s = Summarize(samples);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_NEAR(s.stddev, 2, 1e-12);
  std::vector<double> one = {3};
  EXPECT_EQ(Summarize(one).stddev, 0);
}

TEST(LatencyStatsTest, RequestedPercentilesAreFilledInOrder) {
  std::vector<double> samples;
  for (int i = 1; i <= 1000; ++i) samples.push_back(i);
  const std::vector<double> want = {99.9, 50, 75};
  const LatencySummary s = Summarize(samples, want);
  ASSERT_EQ(s.percentiles.size(), 3u);
  EXPECT_EQ(s.percentiles[0].p, 99.9);
  EXPECT_NEAR(s.percentiles[0].value, 1 + 0.999 * 999, 1e-9);  // rank 998.001
  EXPECT_NEAR(s.percentiles[1].value, 500.5, 1e-9);
  EXPECT_NEAR(s.percentiles[2].value, 750.25, 1e-9);
  EXPECT_NEAR(s.p99, 990.01, 1e-9);  // always filled
  std::vector<double> none;
  const LatencySummary empty = Summarize(none, want);
  ASSERT_EQ(empty.percentiles.size(), 3u);
  EXPECT_EQ(empty.percentiles[0].value, 0);
}

TEST(LatencyStatsTest, ParsePercentiles) {
  const absl::StatusOr<std::vector<double>> ok = ParsePercentiles("50,90, 99,99.9");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, (std::vector<double>{50, 90, 99, 99.9}));
  EXPECT_EQ(PercentileLabel(99.9), "p99.9");
  EXPECT_EQ(PercentileLabel(50), "p50");
  for (const char* bad : {"", "101", "-1", "abc", "50,50", "50,,x"}) {
    const absl::StatusOr<std::vector<double>> r = ParsePercentiles(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace kvserve::load
