#include "server/other_streams_limit.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/grpc.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/interceptor.h"

namespace kvserve {

class OtherStreamsLimitFactory::Interceptor final : public grpc::experimental::Interceptor {
 public:
  Interceptor(grpc::experimental::ServerRpcInfo* info, OtherStreamsLimitFactory* factory)
      : info_(info), factory_(factory) {
    over_limit_ = factory_->live_.fetch_add(1, std::memory_order_relaxed) >= factory_->max_streams_;
  }
  ~Interceptor() override { factory_->live_.fetch_sub(1, std::memory_order_relaxed); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (over_limit_ &&
        methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      const std::string message = absl::StrCat(
          "the server has ", factory_->max_streams_,
          " live health Watch and reflection streams, its max_other_streams; retry later");
      grpc_call_cancel_with_status(info_->server_context()->c_call(),
                                   GRPC_STATUS_RESOURCE_EXHAUSTED, message.c_str(), nullptr);
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* const info_;
  OtherStreamsLimitFactory* const factory_;
  bool over_limit_ = false;
};

bool IsLimitedOtherMethod(absl::string_view method) {
  return !absl::StartsWith(method, "/kvserve.v1.Generation/") &&
         method != "/grpc.health.v1.Health/Check";
}

grpc::experimental::Interceptor* OtherStreamsLimitFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  if (!IsLimitedOtherMethod(info->method())) return nullptr;
  return new Interceptor(info, this);
}

}  // namespace kvserve
