#include "clients/kvload/report.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "clients/kvload/metrics.h"
#include "clients/kvload/run_result.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace kvserve::load {
namespace {

// A request whose token messages arrive at `times` (seconds from its start), `tokens` each.
RequestRecord Request(int64_t index, std::vector<double> times, std::vector<int32_t> tokens,
                      double end_s, Outcome outcome = Outcome::kOk, int32_t code = 0) {
  RequestRecord r;
  r.index = index;
  r.prompt_len = 10;
  r.max_tokens = 0;
  r.start_s = 0.1 * index;
  for (size_t i = 0; i < times.size(); ++i) {
    r.messages.push_back({times[i], tokens[i]});
    r.tokens += tokens[i];
  }
  r.max_tokens = static_cast<int32_t>(r.tokens);
  r.end_s = end_s;
  r.outcome = outcome;
  r.status_code = code;
  return r;
}

RunReport SampleRun() {
  RunReport run;
  run.concurrency = 4;
  run.rate = std::numeric_limits<double>::infinity();
  // TTFT 100 ms, then 1 token after 20 ms, 2 tokens after 40 ms (2 × 20 ms): ITL 20 ms ×3.
  run.result.requests.push_back(Request(0, {0.1, 0.12, 0.16}, {1, 1, 2}, 0.16));
  // TTFT 200 ms, one more token 30 ms later.
  run.result.requests.push_back(Request(1, {0.2, 0.23}, {1, 1}, 0.23));
  // Cancelled after 1 token; a failed request with no tokens.
  run.result.requests.push_back(Request(2, {0.05}, {1}, 0.06, Outcome::kCancelled, 1));
  run.result.requests.push_back(Request(3, {}, {}, 0.01, Outcome::kError, 8));
  run.result.duration_s = 0.5;
  run.summary = SummarizeRun(run.result);
  return run;
}

TEST(MetricsTest, SummarizesOutcomesThroughputAndLatencies) {
  const RunSummary s = SampleRun().summary;
  EXPECT_EQ(s.requests, 4);
  EXPECT_EQ(s.ok, 2);
  EXPECT_EQ(s.cancelled, 1);
  EXPECT_EQ(s.errors, 1);
  EXPECT_EQ(s.errors_by_code.at("RESOURCE_EXHAUSTED"), 1);
  EXPECT_EQ(s.output_tokens, 7);
  EXPECT_EQ(s.ok_output_tokens, 6);
  EXPECT_EQ(s.requested_tokens, 6);
  EXPECT_DOUBLE_EQ(s.request_throughput, 4.0);  // 2 ok / 0.5 s
  EXPECT_DOUBLE_EQ(s.output_throughput, 14.0);  // 7 tokens / 0.5 s
  EXPECT_EQ(s.ttft_ms.count, 2);
  EXPECT_NEAR(s.ttft_ms.mean, 150, 1e-9);
  EXPECT_EQ(s.itl_ms.count, 4);  // 20, 20, 20, 30
  EXPECT_NEAR(s.itl_ms.p50, 20, 1e-9);
  EXPECT_NEAR(s.itl_ms.max, 30, 1e-9);
  // TPOT: (160 - 100) / 3 = 20 and (230 - 200) / 1 = 30.
  EXPECT_EQ(s.tpot_ms.count, 2);
  EXPECT_NEAR(s.tpot_ms.min, 20, 1e-9);
  EXPECT_NEAR(s.tpot_ms.max, 30, 1e-9);
  EXPECT_NEAR(s.e2e_ms.max, 230, 1e-9);
}

TEST(MetricsTest, WithNSamplesItlAndTpotArePerSampleAndRequestedCountsEverySample) {
  // Two samples interleaved: sample 0 at 100, 120, 140 ms; sample 1 at 110, 150 ms.
  RequestRecord r;
  r.n = 2;
  r.max_tokens = 3;
  r.messages = {{0.10, 1, 0}, {0.11, 1, 1}, {0.12, 1, 0}, {0.14, 1, 0}, {0.15, 1, 1}};
  r.tokens = 5;
  r.sample_tokens = {3, 2};
  r.end_s = 0.15;
  std::vector<double> itl;
  AppendItlMs(r, &itl);
  // Gaps within each sample (20, 20 and 40 ms), not between the samples' messages (10 ms).
  ASSERT_EQ(itl.size(), 3u);
  EXPECT_NEAR(itl[0], 20, 1e-9);
  EXPECT_NEAR(itl[1], 20, 1e-9);
  EXPECT_NEAR(itl[2], 40, 1e-9);
  // TPOT over the longest sample: (150 - 100) / (3 - 1).
  EXPECT_EQ(r.LongestSampleTokens(), 3);
  EXPECT_NEAR(r.TpotSeconds(), 0.025, 1e-12);
  RunResult result;
  result.requests = {r};
  result.duration_s = 1;
  const RunSummary s = SummarizeRun(result);
  EXPECT_EQ(s.requested_tokens, 6);  // max_tokens 3 × n 2
  EXPECT_EQ(s.output_tokens, 5);     // every sample's tokens
  EXPECT_DOUBLE_EQ(s.output_throughput, 5.0);
  // In the JSON too.
  RunReport run;
  run.result = result;
  run.summary = s;
  const nlohmann::json doc = ReportToJson({}, nullptr, {run});
  EXPECT_EQ(doc["runs"][0]["requests"][0]["n"], 2);
  EXPECT_EQ(doc["runs"][0]["requests"][0]["sample_tokens"], nlohmann::json({3, 2}));
}

TEST(MetricsTest, TimelineCountsEveryToken) {
  const RunReport run = SampleRun();
  const Timeline t = TokenTimeline(run.result);
  ASSERT_FALSE(t.tokens_per_s.empty());
  double tokens = 0;
  for (double rate : t.tokens_per_s) tokens += rate * t.bucket_s;
  EXPECT_NEAR(tokens, 7, 1e-9);
}

TEST(ReportTest, JsonParsesBackWithConfigSummaryAndRequests) {
  const RunReport run = SampleRun();
  const nlohmann::json config = {{"target", "127.0.0.1:1"}, {"seed", 3}};
  const std::string text = ReportToJson(config, nullptr, {run}).dump(1);

  const std::string path = ::testing::TempDir() + "/kvload_report_test.json";
  ASSERT_TRUE(WriteTextFile(path, text).ok());
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const nlohmann::json doc = nlohmann::json::parse(buffer.str());
  std::remove(path.c_str());

  EXPECT_EQ(doc["tool"], "kvload");
  EXPECT_EQ(doc["config"]["seed"], 3);
  EXPECT_TRUE(doc["server"].is_null());
  ASSERT_EQ(doc["runs"].size(), 1u);
  const nlohmann::json& r = doc["runs"][0];
  EXPECT_EQ(r["concurrency"], 4);
  EXPECT_TRUE(r["rate"].is_null());
  EXPECT_EQ(r["summary"]["ok"], 2);
  EXPECT_EQ(r["summary"]["errors_by_code"]["RESOURCE_EXHAUSTED"], 1);
  EXPECT_NEAR(r["summary"]["ttft_ms"]["p50"].get<double>(), 150, 1e-9);
  ASSERT_EQ(r["requests"].size(), 4u);
  EXPECT_EQ(r["requests"][0]["outcome"], "ok");
  EXPECT_EQ(r["requests"][0]["tokens"], 4);
  EXPECT_EQ(r["requests"][0]["itl_ms"].size(), 3u);
  EXPECT_NEAR(r["requests"][0]["ttft_ms"].get<double>(), 100, 1e-9);
  EXPECT_EQ(r["requests"][2]["outcome"], "cancelled");
  EXPECT_EQ(r["requests"][3]["status"], "RESOURCE_EXHAUSTED");
  EXPECT_TRUE(r["requests"][3]["ttft_ms"].is_null());
  EXPECT_TRUE(r["timeline"]["output_tokens_per_s"].is_array());
}

TEST(ReportTest, SummaryTextHasThroughputAndLatencyRows) {
  const std::string text = FormatSummary(SampleRun());
  for (const char* want : {"closed loop, concurrency 4", "request_throughput:", "4.00 req/s",
                           "output_throughput:", "14.0 tok/s", "RESOURCE_EXHAUSTED=1", "p99",
                           "\nttft ", "\nitl ", "\ntpot ", "\ne2e "}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  }
}

TEST(ReportTest, SweepTableHasOneRowPerRun) {
  RunReport a = SampleRun();
  RunReport b = SampleRun();
  b.concurrency = 32;
  const std::string text = FormatSweepTable({a, b});
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 4);  // header, 2 rows, footnote
  EXPECT_NE(text.find("    32 "), std::string::npos) << text;
}

TEST(RunResultTest, StatusCodeNames) {
  EXPECT_STREQ(StatusCodeName(0), "OK");
  EXPECT_STREQ(StatusCodeName(4), "DEADLINE_EXCEEDED");
  EXPECT_STREQ(StatusCodeName(14), "UNAVAILABLE");
  EXPECT_STREQ(StatusCodeName(99), "UNKNOWN_CODE");
}

}  // namespace
}  // namespace kvserve::load
