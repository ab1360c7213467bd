// Test helper: a KvServer in-process on 127.0.0.1, port 0, with a real Scheduler and ModelRunner
// for an embedded model preset, started the daemon's way (KvServer::Start). Shared by
// tests/server and tests/security.
//
// Threads: call from the test's thread; the returned server is used like any KvServer.
#ifndef KVSERVE_TESTS_SERVER_IN_PROCESS_SERVER_H_
#define KVSERVE_TESTS_SERVER_IN_PROCESS_SERVER_H_

#include <memory>
#include <string>

#include "engine/sched/scheduler.h"
#include "engine/serving/model_source.h"
#include "gtest/gtest.h"
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

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_SERVER_IN_PROCESS_SERVER_H_
