// GetServerInfo helpers shared by kvsoak and the tests: one bounded call, and a poll that waits
// for the server to go idle with every KV page free (what a run must leave behind).
//
// Threads: each call blocks its calling thread; any thread may call them.
#ifndef KVSERVE_CLIENTS_SERVER_INFO_H_
#define KVSERVE_CLIENTS_SERVER_INFO_H_

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve {

// One GetServerInfo call with a deadline of `timeout`.
grpc::Status FetchServerInfo(v1::Generation::Stub& stub, v1::ServerInfo* info,
                             absl::Duration timeout = absl::Seconds(10));

// Polls GetServerInfo (every 20 ms) until every page is free and nothing runs or waits; false on
// timeout. `last`, if given, gets the last answer (cleared if the last call failed).
bool WaitForIdleCache(v1::Generation::Stub& stub, absl::Duration timeout,
                      v1::ServerInfo* last = nullptr);

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_SERVER_INFO_H_
