// KvServer: the running daemon minus its command line: an EngineStack (engine/serving/
// engine_stack.h: model → runner → scheduler) behind a gRPC server that serves
// kvserve.v1.Generation, the standard grpc.health.v1 health service and server reflection, and
// optionally Prometheus metrics over HTTP (see metrics.h). Start() is the one way to start a
// server: kvserve_main.cc calls it with its flags, kvbench and the tests in-process on port 0.
//
// Security and bounds (KvServerOptions): plaintext or TLS/mTLS credentials, an optional bearer
// token required on every RPC but health, the largest request message, the streams one HTTP/2
// connection may carry at once, the live streams server-wide (Generate, and health Watch plus
// reflection, each bounded on its own) and a write timeout for clients that stop reading. What
// gRPC 1.51 cannot bound itself (HTTP/2 CONTINUATION floods and rapid resets, which it buffers
// before any handler or limit applies) must be stopped in front of the daemon: deploy/nginx.
//
// Lifecycle: Start() → serving (health SERVING) → Shutdown(drain): new Generate calls (and HTTP
// generation requests) are refused with UNAVAILABLE "server is shutting down" and health says
// NOT_SERVING (HTTP /health 503); in-flight streams get up to `drain` to finish (the scheduler
// ends the rest with UNAVAILABLE); then the HTTP front end sends what is left and stops, and the
// gRPC server stops, giving streams `grace` to deliver their last messages before it cancels them.
// The metrics endpoint stays up through Shutdown() (a drain is worth watching) and closes when the
// KvServer is destroyed.
//
// Threads: Start() and Shutdown() from one controlling thread (main, or a test); port(),
// address(), metrics_port(), scheduler() and engine() from any thread while the server is alive.
#ifndef KVSERVE_SERVER_KV_SERVER_H_
#define KVSERVE_SERVER_KV_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/sched/scheduler.h"
#include "engine/serving/engine_stack.h"
#include "engine/serving/model_source.h"
#include "grpcpp/grpcpp.h"
#include "security/bearer_token.h"
#include "server/generation_service.h"
#include "server/live_streams.h"
#include "server/metrics.h"
#include "server/openai/http_front_end.h"

namespace kvserve {

struct KvServerOptions {
  std::string host = "127.0.0.1";
  int32_t port = 50051;  // 0: any free port (see KvServer::port())
  // Prometheus metrics; nullptr: none. Start() makes it the scheduler's observer (everything the
  // engine reports) and the service counts refused requests in it.
  std::shared_ptr<Metrics> metrics;
  // Where `metrics` are served, at http://<metrics_host>:<metrics_port>/metrics. -1: not served;
  // 0: any free port (see KvServer::metrics_port()). An empty metrics_host means `host`.
  int32_t metrics_port = -1;
  std::string metrics_host;
  // Transport security (see tls_server_credentials.h); nullptr: plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // Bearer-token auth on every RPC but grpc.health.v1.Health (see bearer_auth_interceptor.h);
  // nullptr: none.
  std::shared_ptr<const BearerTokenVerifier> auth;
  // Largest request message accepted, in bytes; gRPC refuses larger ones with RESOURCE_EXHAUSTED
  // before any handler runs.
  int32_t max_message_bytes = 4 << 20;
  // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: streams one client connection may have open at once.
  // A gRPC client queues further calls on that connection until a stream closes (they are not
  // refused); their deadlines keep running meanwhile.
  int32_t max_streams_per_connection = 100;
  // Live Generate streams server-wide and the write timeout after which a stream whose client
  // stopped reading is cancelled (live_streams.h).
  StreamLimits stream_limits;
  // Live calls of gRPC's own streaming services (health Watch, reflection) server-wide
  // (other_streams_limit.h).
  int32_t max_other_streams = 128;
  // The OpenAI-compatible HTTP front end (server/openai/http_front_end.h) on the same scheduler.
  // -1: off; 0: any free port (see KvServer::http_port()). An empty http_host means `host`. It
  // requires the same bearer token (`auth`) as the gRPC port and serves TLS with `tls_files`.
  int32_t http_port = -1;
  std::string http_host;
  // The model name the HTTP front end serves (/v1/models, and what a request's "model" must be).
  std::string served_model_name = "kvserve";
  // The files `credentials` were made from (MakeServerCredentials); the HTTP front end serves the
  // same certificate, key and client CA. None: plaintext on both ports.
  ServerTlsFiles tls_files;
};

class KvServer {
 public:
  // Checks `options`, builds the EngineStack for `model` with `engine` (EngineStack::Create;
  // `options.metrics`, if any, becomes the scheduler's observer), then starts the scheduler's
  // thread and the gRPC server. Text is encoded and decoded with `model.tokenizer`.
  // INVALID_ARGUMENT for options out of range, metrics together with another observer in
  // `engine`, or whatever EngineStack::Create refuses; UNAVAILABLE if the address cannot be
  // bound (or metrics_port, see MetricsExposer::Start).
  static absl::StatusOr<std::unique_ptr<KvServer>> Start(LoadedModel model,
                                                         EngineStackOptions engine,
                                                         const KvServerOptions& options);

  KvServer(const KvServer&) = delete;
  KvServer& operator=(const KvServer&) = delete;
  ~KvServer();  // Shutdown(absl::ZeroDuration()) unless already shut down

  // See the file comment. Idempotent.
  void Shutdown(absl::Duration drain, absl::Duration grace = absl::Seconds(5));

  int32_t port() const { return port_; }
  // The bound metrics port, or -1 if metrics are not served.
  int32_t metrics_port() const { return exposer_ != nullptr ? exposer_->port() : -1; }
  // The bound HTTP port, or -1 if the HTTP front end is off.
  int32_t http_port() const { return http_ != nullptr ? http_->port() : -1; }
  // "host:port" as bound (IPv6 hosts in brackets).
  const std::string& address() const { return address_; }
  Scheduler& scheduler() { return stack_.scheduler(); }
  // The model, tokenizer and KV-cache figures of what is served.
  const EngineStack& engine() const { return stack_; }

 private:
  KvServer(std::shared_ptr<Metrics> metrics, EngineStack stack)
      : metrics_(std::move(metrics)), stack_(std::move(stack)) {}

  // Destroyed in reverse order: the metrics endpoint, the HTTP front end, the gRPC server, then the
  // service they call, then the engine (the scheduler), then the metrics they update.
  std::shared_ptr<Metrics> metrics_;
  EngineStack stack_;
  std::unique_ptr<GenerationService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<openai::HttpFrontEnd> http_;
  std::unique_ptr<MetricsExposer> exposer_;
  int32_t port_ = 0;
  std::string address_;
  bool shut_down_ = false;
};

// "host:port", with brackets around an IPv6 host.
std::string JoinHostPort(const std::string& host, int32_t port);

// True if `host` only accepts connections from this machine: 127.0.0.0/8, ::1 (bracketed or
// not) or "localhost". 0.0.0.0, :: and every other address or name count as exposed.
bool IsLoopbackHost(const std::string& host);

}  // namespace kvserve

#endif  // KVSERVE_SERVER_KV_SERVER_H_
