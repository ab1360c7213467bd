// Test helpers: run one Generate stream to the end and keep everything that came back.
// Shared by tests/server (in-process server) and tests/integration (the real daemon). The stream
// is the clients' GenerateCall (clients/generate_call.h), the one kvload and kvsoak drive too.
//
// Threads: RunGenerate blocks the calling thread; run one per thread for concurrent streams. Its
// OnMessage runs on a gRPC callback thread, one message at a time (see RunGenerateCall).
#ifndef KVSERVE_TESTS_SERVER_GENERATE_CLIENT_H_
#define KVSERVE_TESTS_SERVER_GENERATE_CLIENT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/generate_call.h"
#include "clients/server_info.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve::testing {

using ::kvserve::WaitForIdleCache;

struct StreamResult {
  grpc::Status status;
  std::vector<v1::GenerateResponse> messages;
  std::vector<absl::Time> arrivals;  // when each message arrived
  absl::Time start;
  std::vector<int32_t> tokens;  // every message's token_ids, in order
  std::string text;             // every message's text, in order
};

// Called after each message; return false to cancel the call (ClientContext::TryCancel).
using OnMessage = ResponseCallback;

inline StreamResult RunGenerate(v1::Generation::Stub& stub, const v1::GenerateRequest& request,
                                absl::Duration timeout = absl::Seconds(60),
                                const OnMessage& on_message = nullptr) {
  StreamResult result;
  result.start = absl::Now();
  GenerateRecord record =
      RunGenerateCall(stub, request,
                      GenerateCallOptions{.deadline_ms = absl::ToInt64Milliseconds(timeout),
                                          .keep_responses = true},
                      on_message);
  result.status = std::move(record.status);
  for (const MessageArrival& m : record.messages) {
    result.arrivals.push_back(result.start + absl::Seconds(m.t_s));
  }
  for (const v1::GenerateResponse& response : record.responses) {
    result.tokens.insert(result.tokens.end(), response.token_ids().begin(),
                         response.token_ids().end());
    result.text += response.text();
  }
  result.messages = std::move(record.responses);
  return result;
}

inline v1::GenerateRequest TextRequest(const std::string& text, int32_t max_tokens,
                                       bool ignore_eos = true) {
  v1::GenerateRequest request;
  request.set_text(text);
  request.set_max_tokens(max_tokens);
  request.set_ignore_eos(ignore_eos);
  return request;
}

// GetServerInfo, or an empty ServerInfo if the call failed.
inline v1::ServerInfo GetInfo(v1::Generation::Stub& stub) {
  v1::ServerInfo info;
  if (!FetchServerInfo(stub, &info).ok()) info.Clear();
  return info;
}

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_SERVER_GENERATE_CLIENT_H_
