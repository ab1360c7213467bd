// Bearer-token authentication for every RPC except the standard health service.
//
// gRPC's AuthMetadataProcessor only runs on secure (TLS) ports, and `--auth_token_file` must work
// on plaintext ports too, so the check is a server interceptor: at POST_RECV_INITIAL_METADATA it
// verifies the `authorization` metadata (see security/bearer_token.h) and, on failure, cancels the
// call with UNAUTHENTICATED and the verifier's message (grpc_call_cancel_with_status sends that
// status to the client as the call's trailers). Interceptors cannot keep a handler from running,
// so the handlers that do work (kvserve.v1.Generation) also call CheckBearerAuth themselves and
// refuse before doing any; the interceptor is what guards services kvserve does not implement
// (server reflection).
//
// Exempt: /grpc.health.v1.Health/* — load balancers and orchestrators probe it without secrets.
//
// Threads: the factory and its verifier are immutable and shared by all gRPC threads; each
// interceptor belongs to one call.
#ifndef KVSERVE_SERVER_BEARER_AUTH_INTERCEPTOR_H_
#define KVSERVE_SERVER_BEARER_AUTH_INTERCEPTOR_H_

#include <map>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/string_ref.h"
#include "security/bearer_token.h"

namespace kvserve {

// True for the methods that need no token (the health service). `method` is gRPC's full name,
// "/package.Service/Method".
bool IsAuthExemptMethod(absl::string_view method);

// OK if `client_metadata` holds exactly one authorization entry that `verifier` accepts;
// UNAUTHENTICATED otherwise (also for several authorization entries).
absl::Status CheckBearerAuth(
    const BearerTokenVerifier& verifier,
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata);

class BearerAuthInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit BearerAuthInterceptorFactory(std::shared_ptr<const BearerTokenVerifier> verifier)
      : verifier_(std::move(verifier)) {}

  // nullptr (no interception) for exempt methods.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  const std::shared_ptr<const BearerTokenVerifier> verifier_;
};

}  // namespace kvserve

#endif  // KVSERVE_SERVER_BEARER_AUTH_INTERCEPTOR_H_
