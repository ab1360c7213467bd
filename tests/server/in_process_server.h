// Test helper: a KvServer in-process on 127.0.0.1, port 0, with a real Scheduler and ModelRunner
// for an embedded model preset, started the daemon's way (KvServer::Start). Shared by
// tests/server and tests/security; InProcessServerTest is the fixture around it.
//
// Threads: call from the test's thread; the returned server is used like any KvServer.
#ifndef KVSERVE_TESTS_SERVER_IN_PROCESS_SERVER_H_
#define KVSERVE_TESTS_SERVER_IN_PROCESS_SERVER_H_

#include <memory>
#include <string>

#include "engine/sched/scheduler.h"
#include "engine/serving/model_source.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "server/kv_server.h"

namespace kvserve::testing {

// LoadModel(model), then KvServer::Start with `options` (OpenMP's default threads) and
// `server_options`, whose host and port are replaced by 127.0.0.1 and 0. On failure, records a
// test failure (EXPECT) and returns null.
inline std::unique_ptr<KvServer> StartInProcessServer(const std::string& model,
                                                      const SchedulerOptions& options,
                                                      KvServerOptions server_options = {}) {
  absl::StatusOr<LoadedModel> loaded = LoadModel(model);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (!loaded.ok()) return nullptr;
  server_options.host = "127.0.0.1";
  server_options.port = 0;
  absl::StatusOr<std::unique_ptr<KvServer>> server =
      KvServer::Start(*std::move(loaded), {.scheduler = options}, server_options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// A test fixture with an in-process server (Start) and a stub to it.
class InProcessServerTest : public ::testing::Test {
 protected:
  void Start(const std::string& model = "micro", SchedulerOptions options = Small()) {
    server_ = StartInProcessServer(model, options);
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::Generation::NewStub(channel_);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5), absl::Seconds(5));
  }
  static SchedulerOptions Small() {
    SchedulerOptions options;
    options.num_pages = 256;
    return options;
  }

  std::unique_ptr<KvServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_SERVER_IN_PROCESS_SERVER_H_
