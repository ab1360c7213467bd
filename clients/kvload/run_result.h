// What one kvload run measured: a record per request, read from its GenerateCall's record
// (load_call.h).
//
// Times are seconds on the steady clock: a request's `start_s` from the run's start, everything
// else of a request from its own start (the moment kvload started the call).
//
// Threads: plain values. The load runner makes a RequestRecord when its stream is done.
#ifndef KVSERVE_CLIENTS_KVLOAD_RUN_RESULT_H_
#define KVSERVE_CLIENTS_KVLOAD_RUN_RESULT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kvserve::load {

// One token-carrying message of a stream.
struct TokenMessage {
  double t_s = 0;  // arrival, from the request's start
  int32_t tokens = 0;
};

// How a request ended, from the load generator's point of view.
enum class Outcome {
  kOk,         // status OK
  kCancelled,  // kvload cancelled it on purpose (--cancel_fraction)
  kAborted,    // still running when the run ended (--duration / --max_seconds); cancelled
  kError,      // any other non-OK status
};
const char* OutcomeName(Outcome outcome);

struct RequestRecord {
  // The plan.
  int64_t index = 0;
  int32_t prompt_len = 0;
  int32_t max_tokens = 0;
  int32_t cancel_after_tokens = -1;

  // What happened.
  double start_s = 0;
  double end_s = 0;  // final status, from the request's start (the e2e latency)
  std::vector<TokenMessage> messages;
  int64_t tokens = 0;
  int32_t status_code = 0;  // grpc::StatusCode
  std::string status_message;
  Outcome outcome = Outcome::kOk;
  int32_t finish_reason = 0;  // kvserve.v1.FinishReason of the last message, 0 if none
  int32_t usage_prompt_tokens = 0;
  int32_t usage_completion_tokens = 0;
  int32_t usage_cached_prompt_tokens = 0;

  // Derived from `messages`: -1 if no token arrived.
  double TtftSeconds() const { return messages.empty() ? -1 : messages.front().t_s; }
  // (e2e - TTFT) / (tokens - 1); -1 unless at least two tokens arrived.
  double TpotSeconds() const;
};

struct RunResult {
  // Wall time from the first request's start to the last request's end.
  double duration_s = 0;
  // Sorted by index.
  std::vector<RequestRecord> requests;
};

// The name of a grpc::StatusCode value ("OK", "DEADLINE_EXCEEDED", ...).
const char* StatusCodeName(int32_t code);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_RUN_RESULT_H_
