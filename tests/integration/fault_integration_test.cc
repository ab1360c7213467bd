// Faults against the real daemon on loopback, each bounded in time:
//   * a client process SIGKILLed mid-stream (kvctl with one stream, kvload with several): the
//     daemon sees the connection go, cancels the requests, frees every KV page within seconds,
//     and serves the next request;
//   * SIGTERM under load with a short --drain_seconds: every stream either completes (exactly
//     max_tokens tokens, finish_reason and usage on the last message) or ends UNAVAILABLE; none
//     ends OK but short; the daemon exits 0.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <memory>
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
#include "tests/integration/daemon_test.h"
#include "tests/server/generate_client.h"

namespace kvserve::testing {
namespace {

class FaultIntegrationTest : public DaemonTest {
 protected:
  // Polls GetServerInfo until `running` requests run; false after `timeout`.
  bool WaitForRunning(int running, absl::Duration timeout) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (GetInfo(*stub_).running() == running) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  // Starts `binary args...` in the background; null (with a test failure) if it cannot.
  static std::unique_ptr<BackgroundCommand> StartClient(const std::string& binary,
                                                        const std::vector<std::string>& args) {
    absl::StatusOr<std::string> dir = BackgroundCommand::MakeTempDir();
    EXPECT_TRUE(dir.ok()) << dir.status();
    if (!dir.ok()) return nullptr;
    absl::StatusOr<std::unique_ptr<BackgroundCommand>> client =
        BackgroundCommand::Start(binary, args, *dir);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // SIGKILLs `client` once `streams` of its requests run on the daemon (and, if `wait_for_text`,
  // once it has printed generated text), then checks that the daemon frees every page.
  void KillMidStreamAndExpectPagesFreed(BackgroundCommand& client, int streams,
                                        bool wait_for_text) {
    ASSERT_TRUE(WaitForRunning(streams, absl::Seconds(20))) << "client stderr: " << client.Stderr();
    if (wait_for_text) {
      const absl::Time end = absl::Now() + absl::Seconds(10);
      while (client.Stdout().empty() && absl::Now() < end) absl::SleepFor(absl::Milliseconds(5));
      ASSERT_FALSE(client.Stdout().empty()) << "no text streamed before the kill";
    }
    ASSERT_TRUE(client.Running()) << "the client finished before it could be killed";
    ASSERT_TRUE(client.Signal(SIGKILL));
    const std::optional<int> status = client.WaitForExit(absl::Seconds(10));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL);

    v1::ServerInfo info;
    EXPECT_TRUE(WaitForIdleCache(*stub_, absl::Seconds(5), &info)) << info.DebugString();
    EXPECT_EQ(info.free_pages(), info.total_pages());
  }
};

TEST_F(FaultIntegrationTest, SigkilledClientsAreCancelledTheirPagesFreedAndServingGoesOn) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon(
      {"--kv_cache_bytes=134217728"}));  // tiny: 3000 tokens take far longer than the test
  const std::string target = "--target=" + daemon_->target();

  std::unique_ptr<BackgroundCommand> kvctl = StartClient(
      KVCTL_BINARY,
      {"generate", target, "a story that goes on", "--max_tokens=3000", "--ignore_eos"});
  ASSERT_NE(kvctl, nullptr);
  KillMidStreamAndExpectPagesFreed(*kvctl, /*streams=*/1, /*wait_for_text=*/true);

  std::unique_ptr<BackgroundCommand> kvload = StartClient(
      KVLOAD_BINARY, {target, "--concurrency=4", "--num_requests=4", "--max_tokens=3000",
                      "--prompt_len=32", "--progress=false", "--max_seconds=60"});
  ASSERT_NE(kvload, nullptr);
  KillMidStreamAndExpectPagesFreed(*kvload, /*streams=*/4, /*wait_for_text=*/false);

  // None of them finished; every one was ended by the scheduler, and the daemon still serves.
  EXPECT_EQ(GetInfo(*stub_).requests_finished(), 0);
  const StreamResult after = RunGenerate(*stub_, TextRequest("still here", 8), absl::Seconds(30));
  ASSERT_TRUE(after.status.ok()) << after.status.error_message();
  EXPECT_EQ(after.tokens.size(), 8u);
  EXPECT_EQ(GetInfo(*stub_).requests_finished(), 1);
}

TEST_F(FaultIntegrationTest, SigtermWithAShortDrainEndsEveryStreamCompleteOrUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartDaemon({"--kv_cache_bytes=67108864", "--drain_seconds=1"}));  // tiny
  // Long streams cannot finish within the drain; short ones (started last) may or may not.
  const std::vector<int32_t> max_tokens = {3000, 3000, 3000, 3000, 24, 24};
  const int n = static_cast<int>(max_tokens.size());
  std::vector<StreamResult> results(n);
  std::atomic<int> streaming{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      results[i] = RunGenerate(*stub_, TextRequest(absl::StrCat("load ", i), max_tokens[i]),
                               absl::Seconds(60), [&](const v1::GenerateResponse&, int index) {
                                 if (index == 0) streaming.fetch_add(1);
                                 return true;
                               });
    });
  }
  // SIGTERM once the long ones stream (the short ones may be done or still going by then).
  const absl::Time wait_end = absl::Now() + absl::Seconds(30);
  while (streaming.load() < 4 && absl::Now() < wait_end) absl::SleepFor(absl::Milliseconds(2));
  ASSERT_GE(streaming.load(), 4);
  const absl::Time signalled = absl::Now();
  ASSERT_TRUE(daemon_->Signal(SIGTERM));
  for (std::thread& t : threads) t.join();

  int complete = 0, unavailable = 0;
  for (int i = 0; i < n; ++i) {
    SCOPED_TRACE(absl::StrCat("stream ", i, " max_tokens ", max_tokens[i]));
    const StreamResult& r = results[i];
    if (r.status.ok()) {
      // Complete, never silently truncated.
      ++complete;
      ASSERT_FALSE(r.messages.empty());
      const v1::GenerateResponse& last = r.messages.back();
      EXPECT_EQ(last.finish_reason(), v1::FINISH_REASON_LENGTH);
      EXPECT_EQ(last.usage().completion_tokens(), max_tokens[i]);
      EXPECT_EQ(static_cast<int32_t>(r.tokens.size()), max_tokens[i]);
    } else {
      ++unavailable;
      EXPECT_EQ(r.status.error_code(), grpc::StatusCode::UNAVAILABLE) << r.status.error_message();
      EXPECT_LT(static_cast<int32_t>(r.tokens.size()), max_tokens[i]);
      for (const v1::GenerateResponse& m : r.messages) {
        EXPECT_EQ(m.finish_reason(), v1::FINISH_REASON_UNSPECIFIED);  // no false "done"
      }
    }
  }
  EXPECT_GE(unavailable, 4);  // 3000 tokens of the tiny model take far longer than 1 s
  EXPECT_EQ(complete + unavailable, n);

  const std::optional<int> status = daemon_->WaitForExit(absl::Seconds(20));
  ASSERT_TRUE(status.has_value()) << "kvserve did not exit after SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status)) << "wait status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  // The drain (1 s) plus the gRPC grace for the last messages (5 s), with room for a busy machine.
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(15));
}

}  // namespace
}  // namespace kvserve::testing
