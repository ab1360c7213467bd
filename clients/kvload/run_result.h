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
  int32_t index = 0;  // the sample (n > 1)
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
  int32_t n = 1;  // samples asked for

  // What happened.
  double start_s = 0;
  double end_s = 0;  // final status, from the request's start (the e2e latency)
  std::vector<TokenMessage> messages;
  int64_t tokens = 0;                  // over all samples
  std::vector<int64_t> sample_tokens;  // per sample (index), when the call recorded them
  int32_t status_code = 0;             // grpc::StatusCode
  std::string status_message;
  Outcome outcome = Outcome::kOk;
  int32_t finish_reason = 0;  // kvserve.v1.FinishReason of the last message, 0 if none
  int32_t usage_prompt_tokens = 0;
  int32_t usage_completion_tokens = 0;
  int32_t usage_cached_prompt_tokens = 0;

  // Derived from `messages`: -1 if no token arrived.
  double TtftSeconds() const { return messages.empty() ? -1 : messages.front().t_s; }
  // (e2e - TTFT) / (tokens - 1) of the longest sample (all tokens if sample_tokens is empty): the
  // time per token of one sample; -1 unless it has at least two tokens.
  double TpotSeconds() const;
  // The most tokens one sample received (`tokens` if sample_tokens is empty).
  int64_t LongestSampleTokens() const;
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
