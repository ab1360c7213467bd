#include "server/bearer_auth_interceptor.h"

#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "grpc/grpc.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/interceptor.h"

namespace kvserve {
namespace {

class BearerAuthInterceptor final : public grpc::experimental::Interceptor {
 public:
  BearerAuthInterceptor(grpc::experimental::ServerRpcInfo* info,
                        std::shared_ptr<const BearerTokenVerifier> verifier)
      : info_(info), verifier_(std::move(verifier)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      const absl::Status status = CheckBearerAuth(*verifier_, *methods->GetRecvInitialMetadata());
      if (!status.ok()) {
        const std::string message(status.message());
        // Ends the call with this status (sent as trailers); the handler's later operations fail.
        grpc_call_cancel_with_status(info_->server_context()->c_call(), GRPC_STATUS_UNAUTHENTICATED,
                                     message.c_str(), nullptr);
      }
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* const info_;
  const std::shared_ptr<const BearerTokenVerifier> verifier_;
};

}  // namespace

bool IsAuthExemptMethod(absl::string_view method) {
  return absl::StartsWith(method, "/grpc.health.v1.Health/");
}

absl::Status CheckBearerAuth(
    const BearerTokenVerifier& verifier,
    const std::multimap<grpc::string_ref, grpc::string_ref>& client_metadata) {
  const auto [begin, end] = client_metadata.equal_range(kAuthorizationMetadataKey);
  if (begin != end && std::next(begin) != end) {
    return absl::UnauthenticatedError("more than one authorization metadata entry");
  }
  std::optional<absl::string_view> value;
  if (begin != end) value = absl::string_view(begin->second.data(), begin->second.size());
  return verifier.Verify(value);
}

grpc::experimental::Interceptor* BearerAuthInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  if (IsAuthExemptMethod(info->method())) return nullptr;
  return new BearerAuthInterceptor(info, verifier_);
}

}  // namespace kvserve
