// DaemonTest: the gtest fixture of the end-to-end tests. StartDaemon(flags) starts the real kvserve
// (DaemonProcess: 127.0.0.1, port 0) and connects a plaintext Generation stub to it; when a test
// has failed, TearDown prints what the daemon wrote to stderr.
//
// Threads: the fixture's members belong to the test's thread; stub_ may be shared by threads the
// test starts (gRPC stubs are thread-safe).
#ifndef KVSERVE_TESTS_INTEGRATION_DAEMON_TEST_H_
#define KVSERVE_TESTS_INTEGRATION_DAEMON_TEST_H_

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "tests/integration/daemon_process.h"

namespace kvserve::testing {

class DaemonTest : public ::testing::Test {
 protected:
  // Starts kvserve with `flags` (plus --port 0 --port_file) and connects stub_ to it.
  void StartDaemon(const std::vector<std::string>& flags) {
    absl::StatusOr<std::unique_ptr<DaemonProcess>> daemon =
        DaemonProcess::Start(KVSERVE_BINARY, flags);
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = *std::move(daemon);
    channel_ = grpc::CreateChannel(daemon_->target(), grpc::InsecureChannelCredentials());
    stub_ = v1::Generation::NewStub(channel_);
  }

  void TearDown() override {
    if (HasFailure() && daemon_ != nullptr) {
      std::fprintf(stderr, "--- kvserve stderr ---\n%s----------------------\n",
                   daemon_->Stderr().c_str());
    }
  }

  std::unique_ptr<DaemonProcess> daemon_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_INTEGRATION_DAEMON_TEST_H_
