// kvserve's Prometheus endpoint end to end: the real daemon with --metrics_port 0
// --metrics_port_file, a few streams (finished, refused, cancelled), then GET /metrics over a plain
// socket and exact checks against what the clients saw.
//
// What "generation tokens" means, precisely: kvserve_generation_tokens_total counts the tokens
// the scheduler sampled and handed to a stream, whatever the stream's outcome. For a stream that
// finished that is its usage.completion_tokens (= the tokens its client read); for a cancelled
// stream it is at least what the client read before cancelling and possibly a few more (made
// before the scheduler saw the cancel, dropped by the server). The same count reaches the
// per-request histogram kvserve_request_generation_tokens at each request's end, through another
// hook, so once idle its _sum must equal the counter exactly.
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "tests/integration/daemon_process.h"
#include "tests/server/generate_client.h"
#include "tests/server/metrics_scrape.h"

namespace kvserve::testing {
namespace {

using ::testing::HasSubstr;

// Scrapes until the scheduler's gauges say idle (they are published at the end of each step);
// the last scrape either way.
MetricSamples ScrapeWhenIdle(int port, absl::Duration timeout = absl::Seconds(5)) {
  const absl::Time end = absl::Now() + timeout;
  MetricSamples samples;
  do {
    absl::StatusOr<MetricSamples> scraped = ScrapeMetrics("127.0.0.1", port);
    EXPECT_TRUE(scraped.ok()) << scraped.status();
    if (!scraped.ok()) return samples;
    samples = *std::move(scraped);
    if (Sample(samples, "kvserve_num_requests_running") == 0 &&
        Sample(samples, "kvserve_num_requests_waiting") == 0 &&
        Sample(samples, "kvserve_kv_pages_used") == 0) {
      return samples;
    }
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < end);
  return samples;
}

TEST(KvserveMetricsTest, CountsMatchWhatTheClientsSaw) {
  absl::StatusOr<std::unique_ptr<DaemonProcess>> started =
      DaemonProcess::StartWithMetrics(KVSERVE_BINARY, {"--kv_cache_bytes=67108864"});  // tiny
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<DaemonProcess> daemon = *std::move(started);
  ASSERT_GT(daemon->metrics_port(), 0);
  ASSERT_NE(daemon->metrics_port(), daemon->port());
  auto channel = grpc::CreateChannel(daemon->target(), grpc::InsecureChannelCredentials());
  auto stub = v1::Generation::NewStub(channel);

  // Before any request: the pool is known, every counter is at 0, and the format is Prometheus'.
  absl::StatusOr<std::string> first_body = HttpGet("127.0.0.1", daemon->metrics_port(), "/metrics");
  ASSERT_TRUE(first_body.ok()) << first_body.status();
  EXPECT_THAT(*first_body, HasSubstr("# TYPE kvserve_time_to_first_token_seconds histogram"));
  EXPECT_THAT(*first_body, HasSubstr("# TYPE kvserve_requests_total counter"));
  EXPECT_THAT(*first_body, HasSubstr("# TYPE kvserve_kv_pages_free gauge"));
  absl::StatusOr<MetricSamples> before = ParseMetrics(*first_body);
  ASSERT_TRUE(before.ok()) << before.status();
  const double total_pages = Sample(*before, "kvserve_kv_pages_total");
  EXPECT_EQ(total_pages, 512);  // 64 MiB of the tiny model's 128 KiB pages
  EXPECT_EQ(Sample(*before, "kvserve_kv_pages_free"), total_pages);
  EXPECT_EQ(Sample(*before, "kvserve_requests_total{outcome=\"length\"}"), 0);
  EXPECT_EQ(Sample(*before, "kvserve_generation_tokens_total"), 0);

  // Three streams that finish, concurrently, with known lengths.
  const std::vector<v1::GenerateRequest> ok_requests = {
      TextRequest("first", 8), TextRequest("the second one", 16), TextRequest("3rd", 24)};
  std::vector<StreamResult> ok(ok_requests.size());
  {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < ok_requests.size(); ++i) {
      threads.emplace_back([&, i] { ok[i] = RunGenerate(*stub, ok_requests[i]); });
    }
    for (std::thread& t : threads) t.join();
  }
  int64_t ok_completion = 0, ok_prompt = 0;
  for (size_t i = 0; i < ok.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(ok[i].status.ok()) << ok[i].status.error_message();
    const v1::Usage& usage = ok[i].messages.back().usage();
    EXPECT_EQ(usage.completion_tokens(), ok_requests[i].max_tokens());
    EXPECT_EQ(static_cast<int32_t>(ok[i].tokens.size()), usage.completion_tokens());
    ok_completion += usage.completion_tokens();
    ok_prompt += usage.prompt_tokens();
  }
  EXPECT_EQ(ok_completion, 8 + 16 + 24);
  EXPECT_EQ(ok_prompt, 5 + 14 + 3);

  // One refused before it is queued.
  const StreamResult invalid = RunGenerate(*stub, TextRequest("bad", 0), absl::Seconds(10));
  EXPECT_EQ(invalid.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // One cancelled by its client after its 4th message.
  const std::string cancelled_prompt = "a long story";
  const StreamResult cancelled =
      RunGenerate(*stub, TextRequest(cancelled_prompt, 3000), absl::Seconds(60),
                  [](const v1::GenerateResponse&, int index) { return index < 3; });
  ASSERT_EQ(cancelled.status.error_code(), grpc::StatusCode::CANCELLED)
      << cancelled.status.error_message();
  const int64_t cancelled_seen = static_cast<int64_t>(cancelled.tokens.size());
  ASSERT_GE(cancelled_seen, 4);

  const MetricSamples m = ScrapeWhenIdle(daemon->metrics_port());
  // Idle: nothing running or waiting, every page back.
  EXPECT_EQ(Sample(m, "kvserve_num_requests_running"), 0);
  EXPECT_EQ(Sample(m, "kvserve_num_requests_waiting"), 0);
  EXPECT_EQ(Sample(m, "kvserve_kv_pages_used"), 0);
  EXPECT_EQ(Sample(m, "kvserve_kv_pages_free"), total_pages);
  EXPECT_EQ(Sample(m, "kvserve_kv_pages_total"), total_pages);

  // Outcomes of the accepted requests; the refused one is counted apart, by code.
  EXPECT_EQ(Sample(m, "kvserve_requests_total{outcome=\"length\"}"), 3);
  EXPECT_EQ(Sample(m, "kvserve_requests_total{outcome=\"cancelled\"}"), 1);
  for (const char* outcome : {"stop", "deadline_exceeded", "unavailable", "error"}) {
    EXPECT_EQ(Sample(m, absl::StrCat("kvserve_requests_total{outcome=\"", outcome, "\"}")), 0)
        << outcome;
  }
  EXPECT_EQ(Sample(m, "kvserve_requests_rejected_total{code=\"INVALID_ARGUMENT\"}"), 1);
  EXPECT_EQ(Sample(m, "kvserve_requests_rejected_total{code=\"RESOURCE_EXHAUSTED\"}"), 0);
  EXPECT_EQ(Sample(m, "kvserve_requests_rejected_total{code=\"UNAVAILABLE\"}"), 0);

  // Tokens (see the file comment).
  const double generated = Sample(m, "kvserve_generation_tokens_total");
  EXPECT_EQ(generated, Sample(m, "kvserve_request_generation_tokens_sum"));
  EXPECT_GE(generated - ok_completion, cancelled_seen);
  EXPECT_LT(generated - ok_completion, 3000);
  EXPECT_EQ(Sample(m, "kvserve_request_generation_tokens_count"), 4);
  // Every accepted prompt was prefilled once (the cancelled one got tokens, so it was too).
  const double prompts = ok_prompt + static_cast<double>(cancelled_prompt.size());
  EXPECT_EQ(Sample(m, "kvserve_prompt_tokens_total"), prompts);
  EXPECT_EQ(Sample(m, "kvserve_request_prompt_tokens_sum"), prompts);

  // Latency histograms: TTFT for every request that got a first token (the 3 finished and the
  // cancelled one), TPOT and e2e for the finished ones, queue time for every admitted one.
  EXPECT_EQ(Sample(m, "kvserve_time_to_first_token_seconds_count"), 4);
  EXPECT_EQ(Sample(m, "kvserve_time_to_first_token_seconds_bucket{le=\"+Inf\"}"), 4);
  EXPECT_GT(Sample(m, "kvserve_time_to_first_token_seconds_sum"), 0);
  EXPECT_EQ(Sample(m, "kvserve_time_per_output_token_seconds_count"), 3);
  EXPECT_EQ(Sample(m, "kvserve_e2e_request_latency_seconds_count"), 3);
  EXPECT_GE(Sample(m, "kvserve_e2e_request_latency_seconds_sum"),
            Sample(m, "kvserve_time_per_output_token_seconds_sum"));
  EXPECT_EQ(Sample(m, "kvserve_request_queue_time_seconds_count"), 4);

  // Steps: one observation per step that ran a batch in each step histogram. Every prompt token
  // and every fed-back token of the finished streams went through a batch.
  const double steps = Sample(m, "kvserve_batch_size_count");
  EXPECT_GT(steps, 0);
  EXPECT_EQ(Sample(m, "kvserve_batch_tokens_count"), steps);
  EXPECT_EQ(Sample(m, "kvserve_step_duration_seconds_count"), steps);
  EXPECT_GE(Sample(m, "kvserve_batch_tokens_sum"), prompts + ok_completion - 3);
  EXPECT_GE(Sample(m, "kvserve_batch_size_sum"), steps);
  EXPECT_EQ(Sample(m, "kvserve_preemptions_total"), 0);
  EXPECT_EQ(Sample(m, "kvserve_prefix_cache_hits_total"), 0);

  // Every metric the Grafana dashboard queries is one the daemon exports, by its exact name.
  std::set<std::string> exported;
  for (const auto& [series, value] : m) exported.insert(series.substr(0, series.find('{')));
  std::ifstream file(std::string(KVSERVE_SOURCE_DIR) + "/deploy/monitoring/grafana-dashboard.json");
  ASSERT_TRUE(file.good()) << "deploy/monitoring/grafana-dashboard.json is missing";
  std::stringstream dashboard;
  dashboard << file.rdbuf();
  const std::string text = dashboard.str();
  const std::regex name("kvserve_[a-z0-9_]+");
  int queried = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it, ++queried) {
    EXPECT_TRUE(exported.count(it->str()))
        << "the dashboard queries " << it->str() << ", which kvserve does not export";
  }
  EXPECT_GT(queried, 20);

  if (HasFailure()) std::fprintf(stderr, "--- kvserve stderr ---\n%s", daemon->Stderr().c_str());
}

TEST(KvserveMetricsTest, BadMetricsFlagsStopTheDaemon) {
  // The metrics port is taken by a running daemon's endpoint.
  absl::StatusOr<std::unique_ptr<DaemonProcess>> holder =
      DaemonProcess::StartWithMetrics(KVSERVE_BINARY, {"--model=micro", "--num_pages=16"});
  ASSERT_TRUE(holder.ok()) << holder.status();
  const CommandResult busy =
      RunCommand(KVSERVE_BINARY,
                 {"--model=micro", "--num_pages=16", "--port=0",
                  absl::StrCat("--metrics_port=", (*holder)->metrics_port())},
                 absl::Seconds(30));
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_THAT(busy.err, HasSubstr("cannot serve metrics"));

  const CommandResult file_without_port = RunCommand(
      KVSERVE_BINARY, {"--model=micro", "--num_pages=16", "--port=0", "--metrics_port_file=/tmp/x"},
      absl::Seconds(30));
  EXPECT_EQ(file_without_port.exit_code, 1);
  EXPECT_THAT(file_without_port.err, HasSubstr("--metrics_port_file needs --metrics_port"));

  const CommandResult ipv6 =
      RunCommand(KVSERVE_BINARY,
                 {"--model=micro", "--num_pages=16", "--host=::1", "--port=0", "--metrics_port=0"},
                 absl::Seconds(30));
  EXPECT_EQ(ipv6.exit_code, 1);
  EXPECT_THAT(ipv6.err, HasSubstr("--metrics_host"));
}

}  // namespace
}  // namespace kvserve::testing
