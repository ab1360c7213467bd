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

}  // namespace
}  // namespace kvserve::load
