// kvserve end to end: every test starts the real daemon binary on 127.0.0.1 (port 0, read back from
// --port_file) and talks to it like a client would. Most use the fast "micro" preset; streaming,
// concurrency, cancellation and shutdown run on the default "tiny" model.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "tests/integration/daemon_process.h"
#include "tests/integration/daemon_test.h"
#include "tests/integration/reflection_client.h"
#include "tests/server/generate_client.h"

namespace kvserve::testing {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class KvserveTest : public DaemonTest {
 protected:
  grpc::Status HealthCheck(HealthCheckResponse* response) {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return health->Check(&context, HealthCheckRequest(), response);
  }
};

// Runs `requests` at once, one thread each, all released together.
std::vector<StreamResult> RunConcurrently(v1::Generation::Stub& stub,
                                          const std::vector<v1::GenerateRequest>& requests,
                                          absl::Duration timeout = absl::Seconds(90)) {
  std::vector<StreamResult> results(requests.size());
  absl::Barrier* barrier = new absl::Barrier(static_cast<int>(requests.size()));
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] {
      if (barrier->Block()) delete barrier;
      results[i] = RunGenerate(stub, requests[i], timeout);
    });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

void ExpectCompleteStream(const StreamResult& r, int32_t max_tokens) {
  ASSERT_TRUE(r.status.ok()) << r.status.error_code() << " " << r.status.error_message();
  ASSERT_FALSE(r.messages.empty());
  EXPECT_EQ(r.messages.back().finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(r.messages.back().usage().completion_tokens(), max_tokens);
  EXPECT_EQ(static_cast<int32_t>(r.tokens.size()), max_tokens);
}

// Each stream of a concurrent run is complete and has the same tokens as the request run alone.
void ExpectEqualToSoloRuns(v1::Generation::Stub& stub, const std::vector<StreamResult>& together,
                           const std::vector<v1::GenerateRequest>& requests, int32_t max_tokens) {
  ASSERT_EQ(together.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    SCOPED_TRACE(i);
    ExpectCompleteStream(together[i], max_tokens);
    const StreamResult alone = RunGenerate(stub, requests[i]);
    ExpectCompleteStream(alone, max_tokens);
    EXPECT_EQ(together[i].tokens, alone.tokens);
  }
}

TEST_F(KvserveTest, TinyModelStreamArrivesIncrementally) {
  StartDaemon({});  // every default: the tiny model, a 1 GiB cache
  const v1::GenerateRequest request = TextRequest("Hello", 48);
  const StreamResult r = RunGenerate(*stub_, request);
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  ASSERT_GE(r.messages.size(), 2u);
  // The first message is tokens only; the last carries finish_reason and usage.
  EXPECT_GT(r.messages.front().token_ids_size(), 0);
  EXPECT_EQ(r.messages.front().finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
  EXPECT_FALSE(r.messages.front().has_usage());
  const v1::GenerateResponse& last = r.messages.back();
  EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
  ASSERT_TRUE(last.has_usage());
  EXPECT_EQ(last.usage().prompt_tokens(), 5);
  EXPECT_EQ(last.usage().completion_tokens(), 48);
  EXPECT_EQ(static_cast<int32_t>(r.tokens.size()), last.usage().completion_tokens());
  // Incremental: the first tokens arrive well before the end.
  const absl::Duration first = r.arrivals.front() - r.start;
  const absl::Duration total = r.arrivals.back() - r.start;
  EXPECT_LT(first, total / 2) << "first " << first << " of " << total;
  EXPECT_GT(r.arrivals.back() - r.arrivals.front(), absl::Milliseconds(5));

  // The scheduler publishes its figures at the end of a step, just after the last token went out.
  v1::ServerInfo info;
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.model_name(), "tiny");
  EXPECT_EQ(info.total_pages(), 8192);  // 1 GiB of 128 KiB pages
  EXPECT_EQ(info.requests_finished(), 1);
}

TEST_F(KvserveTest, RepeatedPromptIsServedFromThePrefixCacheWithTheSameTokens) {
  StartDaemon({"--model=micro", "--num_pages=64", "--page_size=16"});
  const std::string prompt(100, 'x');  // 6 full pages of 16, and 4 tokens more
  const StreamResult first = RunGenerate(*stub_, TextRequest(prompt, 12));
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  EXPECT_EQ(first.messages.back().usage().cached_prompt_tokens(), 0);
  v1::ServerInfo info;
  ASSERT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_GE(info.cached_pages(), 6);
  const StreamResult second = RunGenerate(*stub_, TextRequest(prompt, 12));
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  EXPECT_EQ(second.messages.back().usage().cached_prompt_tokens(), 96);
  EXPECT_EQ(second.tokens, first.tokens);
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
}

TEST_F(KvserveTest, HealthCheckIsServing) {
  StartDaemon({"--model=micro", "--num_pages=64"});
  HealthCheckResponse response;
  const grpc::Status status = HealthCheck(&response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
}

TEST_F(KvserveTest, ReflectionListsTheGenerationService) {
  StartDaemon({"--model=micro", "--num_pages=64"});
  std::vector<std::string> services;
  const grpc::Status status = ListServices(channel_, &services);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(services, ::testing::Contains("kvserve.v1.Generation"));
}

TEST(KvserveBinaryTest, RefusesUnknownModelsAndDirectoriesAndHasHelp) {
  // A directory is a checkpoint; one without config.json is refused naming the file.
  const CommandResult directory =
      RunCommand(KVSERVE_BINARY, {"--model=/proc/self", "--port=0"}, absl::Seconds(30));
  EXPECT_EQ(directory.exit_code, 1);
  EXPECT_THAT(directory.err, HasSubstr("/proc/self/config.json: no such file"));
  const CommandResult unknown =
      RunCommand(KVSERVE_BINARY, {"--model=no-such-model", "--port=0"}, absl::Seconds(30));
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("no-such-model"));
  EXPECT_THAT(unknown.err, HasSubstr("tiny"));
  const CommandResult help = RunCommand(KVSERVE_BINARY, {"--help"}, absl::Seconds(30));
  EXPECT_THAT(help.out + help.err, HasSubstr("--drain_seconds"));
  EXPECT_THAT(help.out + help.err, HasSubstr("--max_num_seqs"));
  EXPECT_THAT(help.out + help.err, HasSubstr("--metrics_port"));
  EXPECT_THAT(help.out + help.err, HasSubstr("--metrics_port_file"));
  EXPECT_THAT(help.out + help.err, HasSubstr("--metrics_host"));
  const CommandResult kvctl_help = RunCommand(KVCTL_BINARY, {"--help"}, absl::Seconds(30));
  EXPECT_THAT(kvctl_help.out + kvctl_help.err, HasSubstr("--max_tokens"));
}

// absl's --help names each flag's defining file; the names start at the repository root, not at
// the build machine's checkout (absl prints "/tmp/x/server/..." as "tmp/x/server/...").
TEST(KvserveBinaryTest, HelpPrintsNoBuildMachinePaths) {
  const std::string checkout = std::string(KVSERVE_SOURCE_DIR).substr(1);
  for (const char* binary : {KVSERVE_BINARY, KVCTL_BINARY, KVLOAD_BINARY}) {
    SCOPED_TRACE(binary);
    const CommandResult help = RunCommand(binary, {"--help"}, absl::Seconds(30));
    EXPECT_THAT(help.out + help.err, HasSubstr("Flags from "));
    EXPECT_THAT(help.out + help.err, ::testing::Not(HasSubstr(checkout)));
  }
  const CommandResult help = RunCommand(KVSERVE_BINARY, {"--help"}, absl::Seconds(30));
  EXPECT_THAT(help.out + help.err, HasSubstr("Flags from server/kvserve_main.cc:"));
}

TEST_F(KvserveTest, ConcurrentGreedyStreamsEqualSoloRuns) {
  StartDaemon({"--kv_cache_bytes=268435456"});  // tiny
  constexpr int kStreams = 32;
  constexpr int32_t kMaxTokens = 16;
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < kStreams; ++i) {
    requests.push_back(
        TextRequest(absl::StrCat("prompt ", i, ": ", std::string(i % 7, '*')), kMaxTokens));
  }
  const std::vector<StreamResult> together = RunConcurrently(*stub_, requests);
  ExpectEqualToSoloRuns(*stub_, together, requests, kMaxTokens);
  v1::ServerInfo info;
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.requests_finished(), 2 * kStreams);
}

TEST_F(KvserveTest, PreemptionUnderATinyCacheKeepsOutputsEqual) {
  // 16 pages of 16 slots; each request needs 8 pages by its end, so 8 at once cannot all fit.
  StartDaemon({"--model=micro", "--num_pages=16", "--page_size=16"});
  constexpr int32_t kMaxTokens = 100;
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < 8; ++i) {
    requests.push_back(TextRequest(absl::StrCat("long request number ", i), kMaxTokens));
  }
  const std::vector<StreamResult> together = RunConcurrently(*stub_, requests);
  const v1::ServerInfo after = GetInfo(*stub_);
  EXPECT_GT(after.preemptions(), 0);
  ExpectEqualToSoloRuns(*stub_, together, requests, kMaxTokens);
  v1::ServerInfo info;
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
}

TEST_F(KvserveTest, CancelMidStreamFreesEveryPage) {
  StartDaemon({"--kv_cache_bytes=67108864"});  // tiny
  const StreamResult r = RunGenerate(*stub_, TextRequest("a long story", 3000), absl::Seconds(60),
                                     [](const v1::GenerateResponse&, int index) {
                                       return index < 3;  // cancel after the 4th message
                                     });
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::CANCELLED) << r.status.error_message();
  EXPECT_GE(r.messages.size(), 4u);
  EXPECT_LT(r.tokens.size(), 3000u);
  v1::ServerInfo info;
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.requests_finished(), 0);
}

TEST_F(KvserveTest, ShortDeadlineEndsTheStreamAndFreesEveryPage) {
  StartDaemon({"--kv_cache_bytes=67108864"});  // tiny
  const absl::Time start = absl::Now();
  const StreamResult r =
      RunGenerate(*stub_, TextRequest("a long story", 3000), absl::Milliseconds(50));
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << r.status.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  v1::ServerInfo info;
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.requests_finished(), 0);
}

TEST_F(KvserveTest, BadInputsAreInvalidArgumentAndTheDaemonKeepsServing) {
  StartDaemon({"--model=micro", "--num_pages=64"});
  struct Bad {
    v1::GenerateRequest request;
    std::string field;
  };
  std::vector<Bad> bad;
  {
    v1::GenerateRequest r;
    r.set_max_tokens(4);
    bad.push_back({r, "prompt"});  // no prompt at all
  }
  bad.push_back({TextRequest("", 4), "prompt"});
  {
    v1::GenerateRequest r = TextRequest("", 4);
    r.mutable_token_ids()->add_ids(65);
    r.mutable_token_ids()->add_ids(259);
    bad.push_back({r, "prompt.token_ids[1]"});
  }
  bad.push_back({TextRequest("hi", 0), "max_tokens"});
  bad.push_back({TextRequest("hi", 512), "max_tokens"});  // 2 + 512 > micro's 512 context
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.mutable_sampling()->set_temperature(-1.0f);
    bad.push_back({r, "sampling.temperature"});
  }
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.mutable_sampling()->set_temperature(std::numeric_limits<float>::quiet_NaN());
    bad.push_back({r, "sampling.temperature"});
  }
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.mutable_sampling()->set_top_p(1.5f);
    bad.push_back({r, "sampling.top_p"});
  }
  {
    v1::GenerateRequest r = TextRequest("hi", 4);
    r.mutable_sampling()->set_top_k(-1);
    bad.push_back({r, "sampling.top_k"});
  }
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.request.ShortDebugString());
    const StreamResult r = RunGenerate(*stub_, b.request, absl::Seconds(10));
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(r.status.error_message(), StartsWith(b.field));
    EXPECT_TRUE(r.messages.empty());
  }
  const StreamResult good = RunGenerate(*stub_, TextRequest("fine", 8));
  ExpectCompleteStream(good, 8);
  v1::ServerInfo info;
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.requests_finished(), 1);
}

TEST_F(KvserveTest, FullQueueIsResourceExhaustedTheRestComplete) {
  StartDaemon({"--kv_cache_bytes=67108864", "--max_waiting=2", "--max_num_seqs=1"});  // tiny
  constexpr int kRequests = 16;
  constexpr int32_t kMaxTokens = 64;
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < kRequests; ++i)
    requests.push_back(TextRequest(absl::StrCat("q", i), kMaxTokens));
  const std::vector<StreamResult> results = RunConcurrently(*stub_, requests);
  int ok = 0, exhausted = 0;
  for (const StreamResult& r : results) {
    if (r.status.ok()) {
      ++ok;
      ExpectCompleteStream(r, kMaxTokens);
    } else {
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << r.status.error_message();
      EXPECT_TRUE(r.messages.empty());
      ++exhausted;
    }
  }
  EXPECT_GE(exhausted, 1);
  // At least the two that fill the queue (more if the scheduler takes one off it meanwhile).
  EXPECT_GE(ok, 2);
  EXPECT_EQ(ok + exhausted, kRequests);
  v1::ServerInfo info;
  EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
  EXPECT_EQ(info.requests_finished(), ok);
}

TEST_F(KvserveTest, SigtermDrainsInFlightStreamsRefusesNewOnesAndExitsZero) {
  // tiny, so that the streams are still running when the signal comes; 200 tokens take ~1 s in
  // Release and ~40 s under TSan on a CPU without AVX-512, well inside the drain.
  StartDaemon({"--kv_cache_bytes=67108864", "--drain_seconds=120"});
  constexpr int kStreams = 4;
  constexpr int32_t kMaxTokens = 200;
  std::vector<StreamResult> results(kStreams);
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      results[i] = RunGenerate(*stub_, TextRequest(absl::StrCat("drain ", i), kMaxTokens),
                               absl::Seconds(150), [&](const v1::GenerateResponse&, int index) {
                                 if (index == 0) started.fetch_add(1);
                                 return true;
                               });
    });
  }
  const absl::Time wait_end = absl::Now() + absl::Seconds(30);
  while (started.load() < kStreams && absl::Now() < wait_end) absl::SleepFor(absl::Milliseconds(2));
  ASSERT_EQ(started.load(), kStreams);

  ASSERT_TRUE(daemon_->Signal(SIGTERM));
  // The daemon reports NOT_SERVING once it has taken the signal...
  HealthCheckResponse health;
  const absl::Time health_end = absl::Now() + absl::Seconds(10);
  while (absl::Now() < health_end) {
    if (HealthCheck(&health).ok() && health.status() == HealthCheckResponse::NOT_SERVING) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(health.status(), HealthCheckResponse::NOT_SERVING);
  // ...and refuses new streams while the old ones drain.
  const StreamResult late = RunGenerate(*stub_, TextRequest("too late", 4), absl::Seconds(10));
  EXPECT_EQ(late.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(late.status.error_message(), HasSubstr("shutting down"));
  EXPECT_TRUE(late.messages.empty());

  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kStreams; ++i) {
    SCOPED_TRACE(i);
    ExpectCompleteStream(results[i], kMaxTokens);
  }
  const std::optional<int> status = daemon_->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(status.has_value()) << "kvserve did not exit after SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status)) << "wait status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_THAT(daemon_->Stderr(), HasSubstr("draining"));
}

TEST_F(KvserveTest, KvctlGeneratesStreamsAndReportsErrors) {
  StartDaemon({"--model=micro", "--num_pages=64"});
  const std::string target = "--target=" + daemon_->target();

  const CommandResult generate =
      RunCommand(KVCTL_BINARY, {"generate", target, "Hello", "--max_tokens=8", "--ignore_eos"});
  EXPECT_EQ(generate.exit_code, 0) << generate.err;
  EXPECT_THAT(generate.err,
              HasSubstr("[finish=length prompt_tokens=5 completion_tokens=8 cached=0 ttft_ms="));

  const CommandResult by_ids =
      RunCommand(KVCTL_BINARY, {"generate", target, "--token_ids=72,105", "--max_tokens=3",
                                "--ignore_eos", "--temperature=0.9", "--seed=5"});
  EXPECT_EQ(by_ids.exit_code, 0) << by_ids.err;
  EXPECT_THAT(by_ids.err, HasSubstr("prompt_tokens=2 completion_tokens=3"));

  ASSERT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5)));  // figures are published per step
  const CommandResult info = RunCommand(KVCTL_BINARY, {"info", target});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr("model_name: micro\n"));
  EXPECT_THAT(info.out, HasSubstr("total_pages: 64\n"));
  EXPECT_THAT(info.out, HasSubstr("requests_finished: 2\n"));

  const CommandResult bad =
      RunCommand(KVCTL_BINARY, {"generate", target, "Hello", "--max_tokens=0"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("INVALID_ARGUMENT: max_tokens"));

  const CommandResult unreachable =
      RunCommand(KVCTL_BINARY, {"info", "--target=127.0.0.1:1", "--timeout_ms=3000"});
  EXPECT_NE(unreachable.exit_code, 0);
  EXPECT_THAT(unreachable.err, HasSubstr("UNAVAILABLE"));
}

}  // namespace
}  // namespace kvserve::testing
