// Test helper: the service names a server lists over gRPC server reflection
// (grpc.reflection.v1alpha, which grpc++_reflection serves).
//
// Threads: call from any thread; `channel` is shared, the call is the caller's.
#ifndef KVSERVE_TESTS_INTEGRATION_REFLECTION_CLIENT_H_
#define KVSERVE_TESTS_INTEGRATION_REFLECTION_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace kvserve::testing {

// Asks for the list of services (10 s deadline); fills `*services` with what came back (empty if
// the call was refused) and returns the call's status.
inline grpc::Status ListServices(const std::shared_ptr<grpc::Channel>& channel,
                                 std::vector<std::string>* services) {
  namespace refl = ::grpc::reflection::v1alpha;
  services->clear();
  auto stub = refl::ServerReflection::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto stream = stub->ServerReflectionInfo(&context);
  refl::ServerReflectionRequest request;
  request.set_list_services("");
  stream->Write(request);
  stream->WritesDone();
  refl::ServerReflectionResponse response;
  while (stream->Read(&response)) {
    for (const refl::ServiceResponse& s : response.list_services_response().service()) {
      services->push_back(s.name());
    }
  }
  return stream->Finish();
}

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_INTEGRATION_REFLECTION_CLIENT_H_
