#include "clients/server_info.h"

#include <chrono>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve {

grpc::Status FetchServerInfo(v1::Generation::Stub& stub, v1::ServerInfo* info,
                             absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return stub.GetServerInfo(&context, v1::GetServerInfoRequest(), info);
}

bool WaitForIdleCache(v1::Generation::Stub& stub, absl::Duration timeout, v1::ServerInfo* last) {
  const absl::Time end = absl::Now() + timeout;
  v1::ServerInfo info;
  do {
    info.Clear();
    if (!FetchServerInfo(stub, &info).ok()) info.Clear();
    if (info.total_pages() > 0 && info.free_pages() == info.total_pages() && info.running() == 0 &&
        info.waiting() == 0) {
      if (last != nullptr) *last = info;
      return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < end);
  if (last != nullptr) *last = info;
  return false;
}

}  // namespace kvserve
