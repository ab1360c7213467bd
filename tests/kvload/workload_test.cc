#include "clients/kvload/workload.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "clients/kvload/dataset.h"
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

// Mean and squared coefficient of variation of the gaps between arrivals.
void GapStats(const std::vector<RequestPlan>& plans, double* mean, double* cv2) {
  std::vector<double> gaps;
  double previous = 0;
  for (const RequestPlan& p : plans) {
    gaps.push_back(p.arrival_s - previous);
    previous = p.arrival_s;
  }
  double sum = 0;
  for (double g : gaps) sum += g;
  *mean = sum / gaps.size();
  double squares = 0;
  for (double g : gaps) squares += (g - *mean) * (g - *mean);
  *cv2 = squares / gaps.size() / (*mean * *mean);
}

TEST(WorkloadTest, BurstinessKeepsTheMeanRateAndSetsTheGapsSpread) {
  // Gamma gaps of shape b have mean 1/rate and squared coefficient of variation 1/b.
  for (double b : {0.25, 1.0, 4.0}) {
    WorkloadOptions o;
    o.num_requests = 20000;
    o.rate = 8;
    o.burstiness = b;
    o.seed = 11;
    double mean = 0, cv2 = 0;
    GapStats(GenerateWorkload(o), &mean, &cv2);
    EXPECT_NEAR(mean, 0.125, 0.125 * 0.05) << "burstiness " << b;
    EXPECT_NEAR(cv2, 1.0 / b, 0.15 / b) << "burstiness " << b;
  }
}

TEST(WorkloadTest, RampRaisesTheRateLinearlyThenHoldsIt) {
  // 2 → 10 req/s over 100 s: 600 expected arrivals in the ramp (mean rate 6), then 10/s.
  WorkloadOptions o;
  o.num_requests = 1600;
  o.rate = 2;
  o.ramp_to_rate = 10;
  o.ramp_seconds = 100;
  o.seed = 3;
  const std::vector<RequestPlan> plans = GenerateWorkload(o);
  int first_ten = 0, ramp = 0, after = 0;
  for (const RequestPlan& p : plans) {
    if (p.arrival_s < 10) ++first_ten;
    if (p.arrival_s < 100) ++ramp;
    if (p.arrival_s >= 100 && p.arrival_s < 200) ++after;
  }
  EXPECT_NEAR(first_ten, 24, 12);  // ∫0..10 (2 + 0.08 t) dt = 24
  EXPECT_NEAR(ramp, 600, 75);
  EXPECT_NEAR(after, 1000, 100);
  for (size_t i = 1; i < plans.size(); ++i) EXPECT_GE(plans[i].arrival_s, plans[i - 1].arrival_s);
}

TEST(WorkloadTest, DatasetPromptsCycleInFileOrderWithTheirLengths) {
  absl::StatusOr<std::vector<DatasetEntry>> entries = ParseDataset(
      "{\"prompt\": \"hello there\", \"max_tokens\": 7}\n\n{\"prompt\": \"b\", \"x\": 1}\n", "mem");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  WorkloadOptions o;
  o.num_requests = 5;
  o.max_tokens = {3, 3};
  o.dataset = std::make_shared<const std::vector<DatasetEntry>>(*std::move(entries));
  const std::vector<RequestPlan> plans = GenerateWorkload(o);
  ASSERT_EQ(plans.size(), 5u);
  EXPECT_EQ(plans[0].prompt_text, "hello there");
  EXPECT_EQ(plans[0].prompt_len, 11);
  EXPECT_EQ(plans[0].max_tokens, 7);
  EXPECT_EQ(plans[1].prompt_text, "b");
  EXPECT_EQ(plans[1].max_tokens, 3);  // no max_tokens: the workload's range
  EXPECT_TRUE(plans[1].prompt_ids.empty());
  EXPECT_EQ(plans[4].prompt_text, "hello there");
}

TEST(WorkloadTest, DatasetErrorsNameTheLine) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"{\"prompt\": \"a\"}\nnot json\n", "f:2: not valid JSON"},
           {"[1]", "f:1: not a JSON object"},
           {"{\"text\": \"a\"}", "f:1: \"prompt\" must be a non-empty string"},
           {"{\"prompt\": \"\"}", "f:1: \"prompt\" must be a non-empty string"},
           {"{\"prompt\": \"a\", \"max_tokens\": 0}", "f:1: \"max_tokens\" must be a positive"},
           {"{\"prompt\": \"a\", \"output_len\": 2.5}", "f:1: \"output_len\" must be"},
           {"\n\n", "f: no prompt in it"}}) {
    const absl::StatusOr<std::vector<DatasetEntry>> r = ParseDataset(text, "f");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(want), std::string::npos) << r.status();
  }
  EXPECT_EQ(ReadDataset("/nonexistent/kvload.jsonl").status().code(), absl::StatusCode::kNotFound);
}

TEST(WorkloadTest, ValidateRejectsBadArrivalShapes) {
  WorkloadOptions o;
  o.rate = 4;
  o.burstiness = 0;
  EXPECT_FALSE(ValidateWorkload(o).ok());
  o.burstiness = 1;
  o.ramp_to_rate = 8;
  EXPECT_FALSE(ValidateWorkload(o).ok());  // no ramp_seconds
  o.ramp_seconds = 10;
  EXPECT_TRUE(ValidateWorkload(o).ok());
  o.burstiness = 2;
  EXPECT_FALSE(ValidateWorkload(o).ok());  // ramp with gamma gaps
  o.burstiness = 1;
  o.rate = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(ValidateWorkload(o).ok());  // ramp in the closed loop
  WorkloadOptions d;
  d.dataset = std::make_shared<const std::vector<DatasetEntry>>();
  EXPECT_FALSE(ValidateWorkload(d).ok());
}

}  // namespace
}  // namespace kvserve::load
