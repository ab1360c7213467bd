// Test helpers: run one Generate stream to the end and keep everything that came back.
// Shared by tests/server (in-process server) and tests/integration (the real daemon).
//
// Threads: RunGenerate blocks the calling thread; run one per thread for concurrent streams.
#ifndef KVSERVE_TESTS_SERVER_GENERATE_CLIENT_H_
#define KVSERVE_TESTS_SERVER_GENERATE_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve::testing {

struct StreamResult {
  grpc::Status status;
  std::vector<v1::GenerateResponse> messages;
  std::vector<absl::Time> arrivals;  // when each message arrived
  absl::Time start;
  std::vector<int32_t> tokens;  // every message's token_ids, in order
  std::string text;             // every message's text, in order
};

// Called after each message; return false to cancel the call (ClientContext::TryCancel).
using OnMessage = std::function<bool(const v1::GenerateResponse&, int message_index)>;

inline StreamResult RunGenerate(v1::Generation::Stub& stub, const v1::GenerateRequest& request,
                                absl::Duration timeout = absl::Seconds(60),
                                const OnMessage& on_message = nullptr) {
  StreamResult result;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  result.start = absl::Now();
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub.Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    result.arrivals.push_back(absl::Now());
    result.tokens.insert(result.tokens.end(), response.token_ids().begin(),
                         response.token_ids().end());
    result.text += response.text();
    result.messages.push_back(response);
    if (on_message && !on_message(response, static_cast<int>(result.messages.size()) - 1)) {
      context.TryCancel();
    }
  }
  result.status = reader->Finish();
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

inline v1::ServerInfo GetInfo(v1::Generation::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ServerInfo info;
  const grpc::Status status = stub.GetServerInfo(&context, v1::GetServerInfoRequest(), &info);
  if (!status.ok()) info.Clear();
  return info;
}

// Polls GetServerInfo until every page is free and nothing runs or waits; false on timeout.
inline bool WaitForIdleCache(v1::Generation::Stub& stub, absl::Duration timeout,
                             v1::ServerInfo* last = nullptr) {
  const absl::Time end = absl::Now() + timeout;
  v1::ServerInfo info;
  do {
    info = GetInfo(stub);
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

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_SERVER_GENERATE_CLIENT_H_
