// What kvsoak observed of one request, and the rules that decide whether the server behaved.
//
// CheckRequest returns every violation for one request (empty = fine):
//   * the request was started and ended before the run's timeout (not aborted);
//   * exactly one terminal status (done_calls == 1);
//   * the status is one the plan allows (see SoakKind in soak_plan.h); invalid requests name the
//     expected field and get no message first;
//   * an OK stream's last message, and only it, has usage, and each sample's last its
//     finish_reason; the tokens received (all samples) equal usage.completion_tokens, are at most
//     max_tokens × n (exactly that, finish reason LENGTH, when ignore_eos is set and nothing else
//     can stop it), and usage.prompt_tokens is the prompt's length;
//   * no stream, OK or not, receives more than max_tokens × n tokens, and every message echoes the
//     request id.
//
// Threads: plain values and a pure function.
#ifndef KVSERVE_CLIENTS_KVSOAK_SOAK_CHECK_H_
#define KVSERVE_CLIENTS_KVSOAK_SOAK_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "clients/kvsoak/soak_plan.h"

namespace kvserve::soak {

struct SoakObservation {
  int done_calls = 0;       // terminal statuses seen (OnDone calls)
  int32_t status_code = 0;  // grpc::StatusCode of the (first) terminal status
  std::string status_message;
  int64_t messages = 0;
  int64_t tokens = 0;
  bool cancel_sent = false;
  bool started = false;  // the run reached this request before its timeout
  bool aborted = false;  // still running at the run's timeout, so kvsoak cancelled it
  // Message protocol.
  int32_t finish_reason = 0;  // of the message that carried one, 0 if none
  bool has_usage = false;     // some message carried usage
  int32_t usage_prompt_tokens = 0;
  int32_t usage_completion_tokens = 0;
  bool message_after_final = false;  // a message followed the one with finish_reason
  bool final_fields_split = false;   // finish_reason and usage came on different messages
  bool request_id_mismatch = false;  // some message's request_id differed from the request's
};

std::vector<std::string> CheckRequest(const SoakPlan& plan, const SoakObservation& seen);

}  // namespace kvserve::soak

#endif  // KVSERVE_CLIENTS_KVSOAK_SOAK_CHECK_H_
