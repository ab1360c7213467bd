// KvServer: the running daemon minus its command line: a started Scheduler behind a gRPC server
// that serves kvserve.v1.Generation, the standard grpc.health.v1 health service and server
// reflection. main.cc builds one from flags; tests build one in-process on port 0.
//
// Lifecycle: Start() → serving (health SERVING) → Shutdown(drain): new Generate calls are refused
// with UNAVAILABLE "server is shutting down" and health says NOT_SERVING; in-flight streams get
// up to `drain` to finish (the scheduler ends the rest with UNAVAILABLE); then the gRPC server
// stops, giving streams `grace` to deliver their last messages before it cancels them.
//
// Threads: Start() and Shutdown() from one controlling thread (main, or a test); port(),
// address() and scheduler() from any thread while the server is alive.
#ifndef KVSERVE_SERVER_KV_SERVER_H_
#define KVSERVE_SERVER_KV_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/scheduler.h"
#include "grpcpp/grpcpp.h"
#include "server/generation_service.h"

namespace kvserve {

struct KvServerOptions {
  std::string host = "127.0.0.1";
  int32_t port = 50051;  // 0: any free port (see KvServer::port())
};

class KvServer {
 public:
  // Starts `scheduler`'s thread and the gRPC server. Fails if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<KvServer>> Start(std::unique_ptr<Scheduler> scheduler,
                                                         const KvServerOptions& options);

  KvServer(const KvServer&) = delete;
  KvServer& operator=(const KvServer&) = delete;
  ~KvServer();  // Shutdown(absl::ZeroDuration()) unless already shut down

  // See the file comment. Idempotent.
  void Shutdown(absl::Duration drain, absl::Duration grace = absl::Seconds(5));

  int32_t port() const { return port_; }
  // "host:port" as bound (IPv6 hosts in brackets).
  const std::string& address() const { return address_; }
  Scheduler& scheduler() { return *scheduler_; }

 private:
  KvServer() = default;

  // Destroyed in reverse order: the gRPC server, then the service it calls, then the scheduler.
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<GenerationService> service_;
  std::unique_ptr<grpc::Server> server_;
  int32_t port_ = 0;
  std::string address_;
  bool shut_down_ = false;
};

// "host:port", with brackets around an IPv6 host.
std::string JoinHostPort(const std::string& host, int32_t port);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_KV_SERVER_H_
