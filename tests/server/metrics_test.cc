// Metrics and MetricsExposer: the observer hooks move exactly the series they should, the exposer
// serves them over HTTP on a free port, and KvServer wires both (the scheduler as observer, the
// service counting refusals) in-process.
#include "server/metrics.h"

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/serving/engine_stack.h"
#include "engine/serving/model_source.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/kv_server.h"
#include "tests/server/generate_client.h"
#include "tests/server/metrics_scrape.h"

namespace kvserve {
namespace {

using ::kvserve::testing::MetricSamples;
using ::kvserve::testing::RunGenerate;
using ::kvserve::testing::Sample;
using ::kvserve::testing::ScrapeMetrics;
using ::kvserve::testing::StreamResult;
using ::kvserve::testing::TextRequest;
using ::testing::HasSubstr;

MetricSamples Scrape(const MetricsExposer& exposer) {
  absl::StatusOr<MetricSamples> samples = ScrapeMetrics("127.0.0.1", exposer.port());
  EXPECT_TRUE(samples.ok()) << samples.status();
  return samples.ok() ? *samples : MetricSamples();
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
        MetricsExposer::Start("127.0.0.1", 0, metrics_.registry());
    ASSERT_TRUE(exposer.ok()) << exposer.status();
    exposer_ = *std::move(exposer);
    ASSERT_GT(exposer_->port(), 0);
  }

  Metrics metrics_;
  std::unique_ptr<MetricsExposer> exposer_;
};

TEST_F(MetricsTest, EverySeriesIsThereFromTheStart) {
  const MetricSamples s = Scrape(*exposer_);
  for (const char* outcome :
       {"length", "stop", "cancelled", "deadline_exceeded", "unavailable", "error"}) {
    EXPECT_EQ(Sample(s, absl::StrCat("kvserve_requests_total{outcome=\"", outcome, "\"}")), 0)
        << outcome;
  }
  for (const char* code : {"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "UNAVAILABLE"}) {
    EXPECT_EQ(Sample(s, absl::StrCat("kvserve_requests_rejected_total{code=\"", code, "\"}")), 0)
        << code;
  }
  for (const char* name :
       {"kvserve_num_requests_running", "kvserve_num_requests_waiting", "kvserve_kv_pages_used",
        "kvserve_kv_pages_free", "kvserve_kv_pages_total", "kvserve_kv_pages_cached",
        "kvserve_preemptions_total", "kvserve_prefix_cache_hits_total",
        "kvserve_prompt_tokens_total", "kvserve_generation_tokens_total",
        "kvserve_time_to_first_token_seconds_count", "kvserve_time_per_output_token_seconds_count",
        "kvserve_e2e_request_latency_seconds_count", "kvserve_request_queue_time_seconds_count",
        "kvserve_request_prompt_tokens_count", "kvserve_request_generation_tokens_count",
        "kvserve_batch_size_count", "kvserve_batch_tokens_count",
        "kvserve_step_duration_seconds_count"}) {
    EXPECT_EQ(Sample(s, name), 0) << name;
  }
  EXPECT_EQ(Sample(s, "kvserve_time_to_first_token_seconds_bucket{le=\"+Inf\"}"), 0);
}

TEST_F(MetricsTest, HooksMoveExactlyTheirSeries) {
  metrics_.OnStep({.num_seqs = 3,
                   .num_prefill_tokens = 20,
                   .num_decode_tokens = 2,
                   .num_prompt_tokens = 20,
                   .num_generated_tokens = 3,
                   .num_cached_prompt_tokens = 16,
                   .duration = absl::Milliseconds(4),
                   .running = 2,
                   .waiting = 5,
                   .free_pages = 90,
                   .cached_pages = 7,
                   .total_pages = 100});
  metrics_.OnStep({.running = 0,
                   .waiting = 0,
                   .free_pages = 100,
                   .cached_pages = 9,
                   .total_pages = 100});  // no batch
  metrics_.OnPreemption();
  metrics_.OnRequestAdmitted(absl::Milliseconds(2));
  metrics_.OnFirstToken(absl::Milliseconds(30));
  metrics_.OnFirstToken(absl::Seconds(3));
  metrics_.OnRequestEnded({.code = absl::StatusCode::kOk,
                           .finish_reason = FinishReason::kLength,
                           .prompt_tokens = 7,
                           .completion_tokens = 3,
                           .e2e_latency = absl::Milliseconds(50),
                           .time_per_output_token = absl::Milliseconds(10)});
  metrics_.OnRequestEnded({.code = absl::StatusCode::kOk,
                           .finish_reason = FinishReason::kStop,
                           .prompt_tokens = 4,
                           .completion_tokens = 1,
                           .e2e_latency = absl::Milliseconds(20)});
  metrics_.OnRequestEnded({.code = absl::StatusCode::kCancelled,
                           .prompt_tokens = 2,
                           .completion_tokens = 5,
                           .e2e_latency = absl::Seconds(1),
                           .time_per_output_token = absl::Milliseconds(1)});
  metrics_.OnRequestEnded({.code = absl::StatusCode::kDeadlineExceeded, .prompt_tokens = 2});
  metrics_.OnRequestEnded({.code = absl::StatusCode::kUnavailable, .prompt_tokens = 2});
  metrics_.OnRequestEnded({.code = absl::StatusCode::kInternal, .prompt_tokens = 2});
  metrics_.OnRequestRejected(absl::StatusCode::kInvalidArgument);
  metrics_.OnRequestRejected(absl::StatusCode::kInvalidArgument);
  metrics_.OnRequestRejected(absl::StatusCode::kResourceExhausted);
  metrics_.OnRequestRejected(absl::StatusCode::kAborted);  // unexpected codes get their own label

  const MetricSamples s = Scrape(*exposer_);
  // Gauges hold the last step's state; counters add up.
  EXPECT_EQ(Sample(s, "kvserve_num_requests_running"), 0);
  EXPECT_EQ(Sample(s, "kvserve_kv_pages_used"), 0);
  EXPECT_EQ(Sample(s, "kvserve_kv_pages_free"), 100);
  EXPECT_EQ(Sample(s, "kvserve_kv_pages_total"), 100);
  EXPECT_EQ(Sample(s, "kvserve_prompt_tokens_total"), 20);
  EXPECT_EQ(Sample(s, "kvserve_generation_tokens_total"), 3);
  EXPECT_EQ(Sample(s, "kvserve_preemptions_total"), 1);
  // Only the step that ran a batch is in the batch histograms.
  EXPECT_EQ(Sample(s, "kvserve_batch_size_count"), 1);
  EXPECT_EQ(Sample(s, "kvserve_batch_size_sum"), 3);
  EXPECT_EQ(Sample(s, "kvserve_batch_size_bucket{le=\"2\"}"), 0);
  EXPECT_EQ(Sample(s, "kvserve_batch_size_bucket{le=\"4\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_batch_tokens_sum"), 22);
  EXPECT_EQ(Sample(s, "kvserve_step_duration_seconds_count"), 1);
  EXPECT_DOUBLE_EQ(Sample(s, "kvserve_step_duration_seconds_sum"), 0.004);
  EXPECT_EQ(Sample(s, "kvserve_step_duration_seconds_bucket{le=\"0.005\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_step_duration_seconds_bucket{le=\"0.002\"}"), 0);
  EXPECT_EQ(Sample(s, "kvserve_request_queue_time_seconds_count"), 1);
  EXPECT_EQ(Sample(s, "kvserve_time_to_first_token_seconds_count"), 2);
  EXPECT_DOUBLE_EQ(Sample(s, "kvserve_time_to_first_token_seconds_sum"), 3.03);
  EXPECT_EQ(Sample(s, "kvserve_time_to_first_token_seconds_bucket{le=\"0.05\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_time_to_first_token_seconds_bucket{le=\"5\"}"), 2);
  // Outcomes, and latencies of the requests that finished.
  EXPECT_EQ(Sample(s, "kvserve_requests_total{outcome=\"length\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_requests_total{outcome=\"stop\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_requests_total{outcome=\"cancelled\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_requests_total{outcome=\"deadline_exceeded\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_requests_total{outcome=\"unavailable\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_requests_total{outcome=\"error\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_e2e_request_latency_seconds_count"), 2);
  EXPECT_DOUBLE_EQ(Sample(s, "kvserve_e2e_request_latency_seconds_sum"), 0.07);
  EXPECT_EQ(Sample(s, "kvserve_time_per_output_token_seconds_count"), 1);
  EXPECT_DOUBLE_EQ(Sample(s, "kvserve_time_per_output_token_seconds_sum"), 0.01);
  EXPECT_EQ(Sample(s, "kvserve_request_prompt_tokens_count"), 6);
  EXPECT_EQ(Sample(s, "kvserve_request_prompt_tokens_sum"), 19);
  EXPECT_EQ(Sample(s, "kvserve_request_generation_tokens_sum"), 9);
  EXPECT_EQ(Sample(s, "kvserve_requests_rejected_total{code=\"INVALID_ARGUMENT\"}"), 2);
  EXPECT_EQ(Sample(s, "kvserve_requests_rejected_total{code=\"RESOURCE_EXHAUSTED\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_requests_rejected_total{code=\"UNAVAILABLE\"}"), 0);
  EXPECT_EQ(Sample(s, "kvserve_requests_rejected_total{code=\"ABORTED\"}"), 1);
  EXPECT_EQ(Sample(s, "kvserve_prefix_cache_hits_total"), 16);
  EXPECT_EQ(Sample(s, "kvserve_kv_pages_cached"), 9);
}

TEST(RequestOutcomeTest, NamesEveryEnding) {
  EXPECT_STREQ(RequestOutcome(absl::StatusCode::kOk, FinishReason::kLength), "length");
  EXPECT_STREQ(RequestOutcome(absl::StatusCode::kOk, FinishReason::kStop), "stop");
  EXPECT_STREQ(RequestOutcome(absl::StatusCode::kCancelled, FinishReason::kNone), "cancelled");
  EXPECT_STREQ(RequestOutcome(absl::StatusCode::kDeadlineExceeded, FinishReason::kNone),
               "deadline_exceeded");
  EXPECT_STREQ(RequestOutcome(absl::StatusCode::kUnavailable, FinishReason::kNone), "unavailable");
  EXPECT_STREQ(RequestOutcome(absl::StatusCode::kInternal, FinishReason::kNone), "error");
}

TEST(MetricsExposerTest, RefusesBadAddressesAndBusyPorts) {
  Metrics metrics;
  EXPECT_EQ(MetricsExposer::Start("::1", 0, metrics.registry()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MetricsExposer::Start("127.0.0.1", 70000, metrics.registry()).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<MetricsExposer>> first =
      MetricsExposer::Start("127.0.0.1", 0, metrics.registry());
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<MetricsExposer>> second =
      MetricsExposer::Start("127.0.0.1", (*first)->port(), metrics.registry());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("cannot serve metrics"));
  // Anything but /metrics is not found.
  EXPECT_FALSE(kvserve::testing::HttpGet("127.0.0.1", (*first)->port(), "/nope").ok());
}

// The whole server in-process: the scheduler reports through the observer, the service counts
// refusals, and /metrics on a free port shows both.
TEST(KvServerMetricsTest, ServesSchedulerAndRefusalFigures) {
  auto metrics = std::make_shared<Metrics>();
  absl::StatusOr<LoadedModel> model = LoadModel("micro");
  ASSERT_TRUE(model.ok()) << model.status();
  EngineStackOptions engine;
  engine.scheduler.num_pages = 128;
  // Start() makes the metrics the scheduler's observer.
  absl::StatusOr<std::unique_ptr<KvServer>> server = KvServer::Start(
      *model, engine,
      KvServerOptions{.host = "127.0.0.1", .port = 0, .metrics = metrics, .metrics_port = 0});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->scheduler().options().observer, metrics);
  const int32_t metrics_port = (*server)->metrics_port();
  ASSERT_GT(metrics_port, 0);

  // Start() publishes the pool before any request.
  absl::StatusOr<MetricSamples> before = ScrapeMetrics("127.0.0.1", metrics_port);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(Sample(*before, "kvserve_kv_pages_total"), 128);
  EXPECT_EQ(Sample(*before, "kvserve_kv_pages_free"), 128);

  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Generation::NewStub(channel);
  const StreamResult ok = RunGenerate(*stub, TextRequest("metrics", 6));
  ASSERT_TRUE(ok.status.ok()) << ok.status.error_message();
  const StreamResult bad = RunGenerate(*stub, TextRequest("metrics", 0));
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Everything is recorded before the stream's end reaches the client.
  absl::StatusOr<MetricSamples> after = ScrapeMetrics("127.0.0.1", metrics_port);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(Sample(*after, "kvserve_requests_total{outcome=\"length\"}"), 1);
  EXPECT_EQ(Sample(*after, "kvserve_requests_rejected_total{code=\"INVALID_ARGUMENT\"}"), 1);
  EXPECT_EQ(Sample(*after, "kvserve_generation_tokens_total"), 6);
  EXPECT_EQ(Sample(*after, "kvserve_prompt_tokens_total"), 7);
  EXPECT_EQ(Sample(*after, "kvserve_time_to_first_token_seconds_count"), 1);
  EXPECT_EQ(Sample(*after, "kvserve_time_per_output_token_seconds_count"), 1);
  EXPECT_EQ(Sample(*after, "kvserve_kv_pages_used"), 0);
  EXPECT_EQ(Sample(*after, "kvserve_num_requests_running"), 0);

  // Shutdown leaves the endpoint up (a drain is worth watching) until the server goes.
  (*server)->Shutdown(absl::Seconds(5));
  EXPECT_TRUE(ScrapeMetrics("127.0.0.1", metrics_port).ok());
  server->reset();
  EXPECT_FALSE(ScrapeMetrics("127.0.0.1", metrics_port).ok());
}

TEST(KvServerMetricsTest, MetricsPortWithoutMetricsIsRefused) {
  absl::StatusOr<LoadedModel> model = LoadModel("micro");
  ASSERT_TRUE(model.ok());
  EngineStackOptions engine;
  engine.scheduler.num_pages = 16;
  absl::StatusOr<std::unique_ptr<KvServer>> server = KvServer::Start(
      *model, engine, KvServerOptions{.host = "127.0.0.1", .port = 0, .metrics_port = 0});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

// The scheduler has one observer slot: metrics and an observer of the caller's are refused
// together rather than one of them silently dropped.
TEST(KvServerMetricsTest, MetricsAndAnotherObserverAreRefused) {
  absl::StatusOr<LoadedModel> model = LoadModel("micro");
  ASSERT_TRUE(model.ok());
  EngineStackOptions engine;
  engine.scheduler.num_pages = 16;
  engine.scheduler.observer = std::make_shared<Metrics>();
  absl::StatusOr<std::unique_ptr<KvServer>> server = KvServer::Start(
      *model, engine,
      KvServerOptions{.host = "127.0.0.1", .port = 0, .metrics = std::make_shared<Metrics>()});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("observer"));
}

}  // namespace
}  // namespace kvserve
