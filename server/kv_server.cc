#include "server/kv_server.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/bearer_auth_interceptor.h"
#include "server/other_streams_limit.h"

namespace kvserve {

std::string JoinHostPort(const std::string& host, int32_t port) {
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

bool IsLoopbackHost(const std::string& host) {
  absl::string_view h = host;
  if (absl::ConsumePrefix(&h, "[")) {
    if (!absl::ConsumeSuffix(&h, "]")) return false;
  }
  if (absl::EqualsIgnoreCase(h, "localhost") || h == "::1") return true;
  // 127.a.b.c, each part a decimal byte.
  std::vector<absl::string_view> parts = absl::StrSplit(h, '.');
  if (parts.size() != 4 || parts[0] != "127") return false;
  for (absl::string_view part : parts) {
    int value = 0;
    if (part.empty() || part.size() > 3 || !absl::SimpleAtoi(part, &value) || value > 255) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::unique_ptr<KvServer>> KvServer::Start(LoadedModel model,
                                                          EngineStackOptions engine,
                                                          const KvServerOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", options.port, " is not in [0, 65535]"));
  }
  if (options.metrics_port < -1 || options.metrics_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics port ", options.metrics_port, " is not in [-1, 65535]"));
  }
  if (options.metrics_port >= 0 && options.metrics == nullptr) {
    return absl::InvalidArgumentError("a metrics port needs metrics to serve");
  }
  if (options.max_message_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes must be > 0; got ", options.max_message_bytes));
  }
  if (options.max_streams_per_connection <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_streams_per_connection must be > 0; got ",
                                                   options.max_streams_per_connection));
  }
  if (options.max_other_streams <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_other_streams must be > 0; got ", options.max_other_streams));
  }
  if (options.metrics != nullptr) {
    if (engine.scheduler.observer != nullptr && engine.scheduler.observer != options.metrics) {
      return absl::InvalidArgumentError(
          "the scheduler has an observer of its own; the server's metrics would be its observer");
    }
    engine.scheduler.observer = options.metrics;
  }
  absl::StatusOr<EngineStack> stack = EngineStack::Create(std::move(model), engine);
  if (!stack.ok()) return stack.status();

  std::unique_ptr<KvServer> server(new KvServer(options.metrics, *std::move(stack)));
  server->shut_down_ = true;  // nothing to shut down (the scheduler's destructor stops it) until up
  absl::StatusOr<std::unique_ptr<GenerationService>> service = GenerationService::Create(
      &server->scheduler(), server->metrics_.get(), server->stack_.tokenizer(),
      options.stream_limits, server->stack_.chat());
  if (!service.ok()) return service.status();
  server->service_ = *std::move(service);
  if (options.auth != nullptr) server->service_->RequireBearerToken(options.auth);
  if (options.metrics_port >= 0) {
    absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
        MetricsExposer::Start(options.metrics_host.empty() ? options.host : options.metrics_host,
                              options.metrics_port, server->metrics_->registry());
    if (!exposer.ok()) return exposer.status();
    server->exposer_ = *std::move(exposer);
  }

  // Both are process-wide switches, read when a ServerBuilder is made.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  const std::string requested = JoinHostPort(options.host, options.port);
  int selected_port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(
      requested,
      options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials(),
      &selected_port);
  builder.RegisterService(server->service_.get());
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_streams_per_connection);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> factories;
  if (options.auth != nullptr) {
    factories.push_back(std::make_unique<BearerAuthInterceptorFactory>(options.auth));
  }
  factories.push_back(std::make_unique<OtherStreamsLimitFactory>(options.max_other_streams));
  builder.experimental().SetInterceptorCreators(std::move(factories));
  server->scheduler().Start();
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || selected_port == 0) {
    server->server_.reset();
    server->scheduler().Shutdown(absl::ZeroDuration());
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", requested, " (address in use or not local?)"));
  }
  if (options.http_port >= 0) {
    openai::HttpFrontEndOptions http;
    http.host = options.http_host.empty() ? options.host : options.http_host;
    http.port = options.http_port;
    http.served_model_name = options.served_model_name;
    http.auth = options.auth;
    http.max_body_bytes = static_cast<size_t>(options.max_message_bytes);
    http.tls = options.tls_files;
    http.metrics = server->metrics_.get();
    absl::StatusOr<std::unique_ptr<openai::HttpFrontEnd>> front =
        openai::HttpFrontEnd::Start(http, server->service_.get());
    if (!front.ok()) {
      server->server_->Shutdown();
      server->server_.reset();
      server->scheduler().Shutdown(absl::ZeroDuration());
      return front.status();
    }
    server->http_ = *std::move(front);
  }
  server->shut_down_ = false;
  server->port_ = selected_port;
  server->address_ = JoinHostPort(options.host, selected_port);
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

KvServer::~KvServer() { Shutdown(absl::ZeroDuration(), absl::ZeroDuration()); }

void KvServer::Shutdown(absl::Duration drain, absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  service_->StopAccepting();
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->SetServingStatus(false);
  }
  // Every accepted stream gets its terminal call here, so every reactor can Finish.
  scheduler().Shutdown(drain);
  if (http_ != nullptr) http_->Stop();
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  server_->Wait();
}

}  // namespace kvserve
