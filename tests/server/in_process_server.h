// Test helper: a KvServer in-process on 127.0.0.1, port 0, with a real Scheduler and ModelRunner
// for an embedded model preset. Shared by tests/server and tests/security.
//
// Threads: call from the test's thread; the returned server is used like any KvServer.
#ifndef KVSERVE_TESTS_SERVER_IN_PROCESS_SERVER_H_
#define KVSERVE_TESTS_SERVER_IN_PROCESS_SERVER_H_

#include <memory>
#include <string>

#include "engine/model/model_runner.h"
#include "engine/sched/scheduler.h"
#include "gtest/gtest.h"
#include "server/kv_server.h"
#include "server/model_loader.h"

namespace kvserve::testing {

// `server_options`' host and port are replaced by 127.0.0.1 and 0. On failure, records a test
// failure (EXPECT) and returns null.
inline std::unique_ptr<KvServer> StartInProcessServer(const std::string& model,
                                                      const SchedulerOptions& options,
                                                      KvServerOptions server_options = {}) {
  absl::StatusOr<std::shared_ptr<const ModelWeights>> weights = LoadModelWeights(model);
  EXPECT_TRUE(weights.ok()) << weights.status();
  if (!weights.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<StepEngine>> engine =
      MakeModelEngine(*weights,
                      ModelRunner::Options{.max_batched_tokens = options.max_batched_tokens,
                                           .max_num_seqs = options.max_num_seqs},
                      /*threads=*/0);
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<Scheduler>> scheduler =
      Scheduler::Create(*std::move(engine), options);
  EXPECT_TRUE(scheduler.ok()) << scheduler.status();
  if (!scheduler.ok()) return nullptr;
  server_options.host = "127.0.0.1";
  server_options.port = 0;
  absl::StatusOr<std::unique_ptr<KvServer>> server =
      KvServer::Start(*std::move(scheduler), server_options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_SERVER_IN_PROCESS_SERVER_H_
