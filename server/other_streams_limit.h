// OtherStreamsLimitFactory: a server interceptor that caps the live calls of the services kvserve
// does not implement itself: grpc.health.v1.Health/Watch and server reflection. Those are
// gRPC's own handlers, so the cap cannot live in a handler: each such call holds a slot from its
// interceptor's creation to its destruction (gRPC destroys a call's interceptors with the call),
// and a call that finds every slot taken is cancelled at POST_RECV_INITIAL_METADATA with
// RESOURCE_EXHAUSTED, before gRPC's handler has done anything for it.
//
// Not counted: kvserve.v1.Generation (GenerationService caps its streams itself, see
// live_streams.h: a flood of Watch streams must not take generation's slots, nor the other way
// round) and grpc.health.v1.Health/Check (unary and short; a probe must get its answer).
//
// Threads: the factory is shared by all gRPC threads (its count is atomic); each interceptor
// belongs to one call.
#ifndef KVSERVE_SERVER_OTHER_STREAMS_LIMIT_H_
#define KVSERVE_SERVER_OTHER_STREAMS_LIMIT_H_

#include <atomic>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"

namespace kvserve {

// True for the methods whose calls the limit counts; `method` is "/package.Service/Method".
bool IsLimitedOtherMethod(absl::string_view method);

class OtherStreamsLimitFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit OtherStreamsLimitFactory(int32_t max_streams) : max_streams_(max_streams) {}

  // nullptr (no interception) for methods the limit does not count.
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

  int32_t live() const { return live_.load(std::memory_order_relaxed); }

 private:
  class Interceptor;
  const int32_t max_streams_;
  std::atomic<int32_t> live_{0};
};

}  // namespace kvserve

#endif  // KVSERVE_SERVER_OTHER_STREAMS_LIMIT_H_
