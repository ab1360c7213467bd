// kvsoak against the real daemon: kvserve (micro model, a KV cache of 48 pages so requests get
// preempted) on 127.0.0.1 --port 0, 500 short soak requests (cancellations, short deadlines,
// invalid requests, 2% with lengths up to the whole context), kvsoak's verdict checked, and the
// server's own figures afterwards: preemptions happened, every page free, nothing running.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "tests/integration/daemon_process.h"

namespace kvserve::soak {
namespace {

using ::kvserve::testing::CommandResult;
using ::kvserve::testing::DaemonProcess;
using ::kvserve::testing::RunCommand;

TEST(SoakIntegrationTest, ShortSoakPassesAndLeavesTheCacheEmpty) {
  absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon = DaemonProcess::Start(
      KVSERVE_BINARY, {"--model=micro", "--num_pages=48", "--drain_seconds=1"}, absl::Seconds(30));
  ASSERT_TRUE(daemon.ok()) << daemon.status();

  const CommandResult run = RunCommand(
      KVSOAK_BINARY,
      {"--target=" + (*daemon)->target(), "--requests=500", "--concurrency=64", "--seed=7",
       "--prompt_len=1:32", "--max_tokens=1:32", "--long_fraction=0.02", "--timeout_s=50"},
      absl::Seconds(70));
  std::cout << run.out;  // the summary, for the test log
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("\nPASS\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("violations: 0\n"), std::string::npos);

  auto stub = kvserve::v1::Generation::NewStub(
      grpc::CreateChannel((*daemon)->target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  kvserve::v1::ServerInfo info;
  ASSERT_TRUE(stub->GetServerInfo(&context, kvserve::v1::GetServerInfoRequest(), &info).ok());
  // The small cache must actually have been under pressure, or the soak proved less than it says.
  EXPECT_GT(info.preemptions(), 0);
  EXPECT_EQ(info.free_pages(), info.total_pages());
  EXPECT_EQ(info.running(), 0);
  EXPECT_EQ(info.waiting(), 0);
  // The daemon is still healthy: it did not crash or log a check failure.
  EXPECT_EQ((*daemon)->WaitForExit(absl::ZeroDuration()), std::nullopt) << (*daemon)->Stderr();
}

}  // namespace
}  // namespace kvserve::soak
