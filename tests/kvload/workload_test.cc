#include "clients/kvload/workload.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace kvserve::load {
namespace {

TEST(LengthRangeTest, ParsesSingleValueAndRange) {
  absl::StatusOr<LengthRange> fixed = LengthRange::Parse("64");
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(*fixed, (LengthRange{64, 64}));
  EXPECT_EQ(fixed->ToString(), "64");

  absl::StatusOr<LengthRange> range = LengthRange::Parse("32:512");
  ASSERT_TRUE(range.ok()) << range.status();
  EXPECT_EQ(*range, (LengthRange{32, 512}));
  EXPECT_EQ(range->ToString(), "32:512");
}

TEST(LengthRangeTest, RejectsBadStrings) {
  for (const char* bad :
       {"", "abc", "32:", ":64", "0", "-4", "512:32", "1:2:3", "3.5", "8:x", "0:16"}) {
    EXPECT_FALSE(LengthRange::Parse(bad).ok()) << "\"" << bad << "\"";
  }
}

TEST(RngTest, UniformIntStaysInRange) {
  Rng rng(42);
  for (int i = 0; i < 10000; ++i) {
    const int64_t v = rng.UniformInt(3, 7);
    ASSERT_GE(v, 3);
    ASSERT_LE(v, 7);
  }
}

TEST(WorkloadTest, PoissonArrivalMeanMatchesRate) {
  WorkloadOptions options;
  options.num_requests = 20000;
  options.rate = 50;  // mean gap 20 ms
  options.seed = 7;
  const std::vector<RequestPlan> plans = GenerateWorkload(options);
  ASSERT_EQ(plans.size(), 20000u);
  double sum = 0, sum_sq = 0, prev = 0;
  for (const RequestPlan& p : plans) {
    const double gap = p.arrival_s - prev;
    ASSERT_GE(gap, 0);
    sum += gap;
    sum_sq += gap * gap;
    prev = p.arrival_s;
  }
  const double mean = sum / plans.size();
  const double var = sum_sq / plans.size() - mean * mean;
  // Standard error of the mean is 0.02 / sqrt(20000) = 1.4e-4; allow 3% (> 4 sigma).
  EXPECT_NEAR(mean, 0.02, 0.02 * 0.03);
  // Exponential: standard deviation equals the mean.
  EXPECT_NEAR(std::sqrt(var), 0.02, 0.02 * 0.05);
}

TEST(WorkloadTest, ClosedLoopArrivalsAreAllDueAtOnce) {
  WorkloadOptions options;
  options.num_requests = 10;
  for (const RequestPlan& p : GenerateWorkload(options)) EXPECT_EQ(p.arrival_s, 0);
}

TEST(WorkloadTest, LengthsStayInRangesAndCoverThem) {
  WorkloadOptions options;
  options.num_requests = 2000;
  options.prompt_len = {32, 40};
  options.max_tokens = {16, 18};
  options.seed = 3;
  std::vector<int> seen_prompt(41, 0), seen_max(19, 0);
  for (const RequestPlan& p : GenerateWorkload(options)) {
    ASSERT_GE(p.prompt_len, 32);
    ASSERT_LE(p.prompt_len, 40);
    ASSERT_GE(p.max_tokens, 16);
    ASSERT_LE(p.max_tokens, 18);
    ASSERT_EQ(p.prompt_ids.size(), static_cast<size_t>(p.prompt_len));
    for (int32_t id : p.prompt_ids) {
      ASSERT_GE(id, 0);
      ASSERT_LE(id, 255);
    }
    EXPECT_NE(p.sampling_seed, 0u);
    seen_prompt[p.prompt_len]++;
    seen_max[p.max_tokens]++;
  }
  for (int len = 32; len <= 40; ++len) EXPECT_GT(seen_prompt[len], 100) << len;
  for (int len = 16; len <= 18; ++len) EXPECT_GT(seen_max[len], 400) << len;
}

TEST(WorkloadTest, SameSeedSameWorkloadOtherSeedDiffers) {
  WorkloadOptions options;
  options.num_requests = 200;
  options.rate = 10;
  options.prompt_len = {8, 64};
  options.max_tokens = {4, 32};
  options.cancel_fraction = 0.3;
  options.seed = 1234;
  const std::vector<RequestPlan> a = GenerateWorkload(options);
  const std::vector<RequestPlan> b = GenerateWorkload(options);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].index, b[i].index);
    EXPECT_EQ(a[i].arrival_s, b[i].arrival_s);
    EXPECT_EQ(a[i].prompt_ids, b[i].prompt_ids);
    EXPECT_EQ(a[i].max_tokens, b[i].max_tokens);
    EXPECT_EQ(a[i].sampling_seed, b[i].sampling_seed);
    EXPECT_EQ(a[i].cancel_after_tokens, b[i].cancel_after_tokens);
  }
  options.seed = 1235;
  const std::vector<RequestPlan> c = GenerateWorkload(options);
  int same_prompts = 0;
  for (size_t i = 0; i < a.size(); ++i) same_prompts += a[i].prompt_ids == c[i].prompt_ids;
  EXPECT_EQ(same_prompts, 0);
}

TEST(WorkloadTest, UnboundedGeneratorMatchesBoundedPrefix) {
  WorkloadOptions bounded;
  bounded.num_requests = 50;
  bounded.rate = 5;
  bounded.seed = 9;
  WorkloadOptions unbounded = bounded;
  unbounded.num_requests = 0;
  const std::vector<RequestPlan> a = GenerateWorkload(bounded);
  WorkloadGenerator generator(unbounded);
  for (const RequestPlan& p : a) {
    ASSERT_TRUE(generator.HasNext());
    const RequestPlan q = generator.Next();
    EXPECT_EQ(p.arrival_s, q.arrival_s);
    EXPECT_EQ(p.prompt_ids, q.prompt_ids);
  }
  EXPECT_TRUE(generator.HasNext());
}

TEST(WorkloadTest, SharedPrefixIsCommonAndRestDiffers) {
  WorkloadOptions options;
  options.num_requests = 20;
  options.prompt_len = {40, 60};
  options.shared_prefix = 32;
  options.seed = 5;
  const std::vector<RequestPlan> plans = GenerateWorkload(options);
  const std::vector<int32_t> prefix(plans[0].prompt_ids.begin(), plans[0].prompt_ids.begin() + 32);
  for (const RequestPlan& p : plans) {
    EXPECT_EQ(std::vector<int32_t>(p.prompt_ids.begin(), p.prompt_ids.begin() + 32), prefix);
  }
  EXPECT_NE(std::vector<int32_t>(plans[0].prompt_ids.begin() + 32, plans[0].prompt_ids.end()),
            std::vector<int32_t>(plans[1].prompt_ids.begin() + 32,
                                 plans[1].prompt_ids.begin() + plans[0].prompt_ids.size()));
}

TEST(WorkloadTest, TextPromptsHaveExactLengthAndSharedPrefix) {
  WorkloadOptions options;
  options.num_requests = 30;
  options.prompt_len = {10, 100};
  options.prompt_text = true;
  options.shared_prefix = 8;
  options.seed = 11;
  const std::vector<RequestPlan> plans = GenerateWorkload(options);
  for (const RequestPlan& p : plans) {
    EXPECT_TRUE(p.prompt_ids.empty());
    ASSERT_EQ(p.prompt_text.size(), static_cast<size_t>(p.prompt_len));
    EXPECT_EQ(p.prompt_text.substr(0, 8), plans[0].prompt_text.substr(0, 8));
    for (char c : p.prompt_text) EXPECT_TRUE(c == ' ' || (c >= 'a' && c <= 'z')) << c;
  }
}

TEST(WorkloadTest, CancelFractionSelectsExactCountMidWay) {
  for (const double fraction : {0.0, 0.1, 0.5, 0.77, 1.0}) {
    WorkloadOptions options;
    options.num_requests = 1000;
    options.max_tokens = {4, 16};
    options.cancel_fraction = fraction;
    options.seed = 21;
    int64_t chosen = 0;
    for (const RequestPlan& p : GenerateWorkload(options)) {
      if (p.cancel_after_tokens < 0) continue;
      ++chosen;
      EXPECT_GE(p.cancel_after_tokens, 1);
      EXPECT_LT(p.cancel_after_tokens, p.max_tokens);
    }
    EXPECT_EQ(chosen, std::llround(fraction * 1000)) << fraction;
  }
}

TEST(WorkloadTest, CancelFractionSpreadsOverTheRun) {
  WorkloadOptions options;
  options.num_requests = 1000;
  options.cancel_fraction = 0.5;
  options.seed = 4;
  const std::vector<RequestPlan> plans = GenerateWorkload(options);
  int first_half = 0;
  for (size_t i = 0; i < 500; ++i) first_half += plans[i].cancel_after_tokens >= 0;
  EXPECT_NEAR(first_half, 250, 50);  // not all at the start or the end
}

TEST(WorkloadTest, UnboundedCancelFractionIsApproximate) {
  WorkloadOptions options;
  options.num_requests = 0;
  options.cancel_fraction = 0.25;
  options.seed = 8;
  WorkloadGenerator generator(options);
  int chosen = 0;
  for (int i = 0; i < 4000; ++i) chosen += generator.Next().cancel_after_tokens >= 0;
  EXPECT_NEAR(chosen, 1000, 120);
}

TEST(WorkloadTest, ValidateRejectsBadOptions) {
  WorkloadOptions ok;
  EXPECT_TRUE(ValidateWorkload(ok).ok());
  WorkloadOptions bad = ok;
  bad.cancel_fraction = 1.5;
  EXPECT_FALSE(ValidateWorkload(bad).ok());
  bad = ok;
  bad.rate = 0;
  EXPECT_FALSE(ValidateWorkload(bad).ok());
  bad = ok;
  bad.prompt_len = {10, 5};
  EXPECT_FALSE(ValidateWorkload(bad).ok());
  bad = ok;
  bad.shared_prefix = -1;
  EXPECT_FALSE(ValidateWorkload(bad).ok());
}

}  // namespace
}  // namespace kvserve::load
