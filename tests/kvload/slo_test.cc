#include "clients/kvload/slo.h"

#include <string>

#include "clients/kvload/metrics.h"
#include "clients/kvload/run_result.h"
#include "gtest/gtest.h"

namespace kvserve::load {
namespace {

// An OK request: first token at ttft_s, `tokens` tokens in all, done at end_s.
RequestRecord Ok(double ttft_s, int32_t tokens, double end_s) {
  RequestRecord r;
  r.prompt_len = 5;
  r.max_tokens = tokens;
  r.messages.push_back({ttft_s, 1});
  if (tokens > 1) r.messages.push_back({end_s, tokens - 1});
  r.tokens = tokens;
  r.end_s = end_s;
  return r;
}

TEST(SloTest, ParsesEachObjectiveOnce) {
  const absl::StatusOr<Slo> slo = Slo::Parse("ttft:2000,tpot:200,e2e:5000");
  ASSERT_TRUE(slo.ok()) << slo.status();
  EXPECT_EQ(*slo->ttft_ms, 2000);
  EXPECT_EQ(*slo->tpot_ms, 200);
  EXPECT_EQ(*slo->e2e_ms, 5000);
  EXPECT_EQ(slo->ToString(), "ttft:2000,tpot:200,e2e:5000");
  const absl::StatusOr<Slo> one = Slo::Parse("tpot:12.5");
  ASSERT_TRUE(one.ok());
  EXPECT_FALSE(one->ttft_ms.has_value());
  EXPECT_EQ(one->ToString(), "tpot:12.5");
  EXPECT_TRUE(Slo::Parse("")->empty());
  for (const char* bad :
       {"ttft", "ttft:0", "ttft:-3", "ttft:abc", "itl:5", "ttft:1,ttft:2", "ttft:1:2"}) {
    const absl::StatusOr<Slo> r = Slo::Parse(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(SloTest, MetIsInclusiveAndNeedsAnOkOutcome) {
  // Binary-exact times: TTFT 125 ms, TPOT (250 - 125) / 8 = 15.625 ms, on both limits.
  const Slo slo = *Slo::Parse("ttft:125,tpot:15.625");
  EXPECT_TRUE(slo.Met(Ok(0.125, 9, 0.25)));
  EXPECT_FALSE(slo.Met(Ok(0.126, 9, 0.25)));  // TTFT over
  EXPECT_FALSE(slo.Met(Ok(0.125, 9, 0.26)));  // TPOT 16.9 ms
  EXPECT_TRUE(slo.Met(Ok(0.125, 1, 5.0)));    // one token: no TPOT, meets tpot
  RequestRecord failed = Ok(0.01, 10, 0.02);
  failed.outcome = Outcome::kError;
  EXPECT_FALSE(slo.Met(failed));
  RequestRecord no_token;
  no_token.end_s = 0.01;
  EXPECT_FALSE(slo.Met(no_token));  // a TTFT objective needs a first token
  EXPECT_TRUE(Slo::Parse("e2e:100")->Met(no_token));
}

TEST(SloTest, SummaryCountsGoodputOverTheRequestsNotCancelled) {
  RunResult result;
  result.duration_s = 2;
  result.requests = {Ok(0.05, 4, 0.08), Ok(0.5, 4, 0.6), Ok(0.05, 2, 0.07)};
  RequestRecord cancelled = Ok(0.05, 1, 0.05);
  cancelled.outcome = Outcome::kCancelled;
  RequestRecord deadline = Ok(0.05, 3, 0.3);
  deadline.outcome = Outcome::kError;
  deadline.status_code = 4;
  result.requests.push_back(cancelled);
  result.requests.push_back(deadline);
  result.requests[0].usage_prompt_tokens = 9;  // the server's count wins over the planned 5
  SummaryOptions options;
  options.slo = *Slo::Parse("ttft:100");
  const RunSummary s = SummarizeRun(result, options);
  EXPECT_EQ(s.good, 2);                       // requests 0 and 2
  EXPECT_DOUBLE_EQ(s.goodput_fraction, 0.5);  // 2 of the 4 not cancelled
  EXPECT_DOUBLE_EQ(s.request_goodput, 1.0);   // 2 / 2 s
  EXPECT_DOUBLE_EQ(s.token_goodput, 3.0);     // (4 + 2) / 2 s
  EXPECT_EQ(s.prompt_tokens, 9 + 4 * 5);
  EXPECT_DOUBLE_EQ(s.input_throughput, 29 / 2.0);
  EXPECT_DOUBLE_EQ(s.total_token_throughput, s.input_throughput + s.output_throughput);
  EXPECT_EQ(FailedRequests(s), 1);
}

}  // namespace
}  // namespace kvserve::load
