// kvload's side of one Generate stream: the request it sends for a RequestPlan, the GenerateCall
// options (deadline, planned cancellation), and how it reads the call's record as a
// RequestRecord (times from the run's start, token-carrying messages only, the outcome).
// The stream itself is the shared GenerateCall (clients/generate_call.h).
//
// Threads: pure functions.
#ifndef KVSERVE_CLIENTS_KVLOAD_LOAD_CALL_H_
#define KVSERVE_CLIENTS_KVLOAD_LOAD_CALL_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "clients/generate_call.h"
#include "clients/kvload/run_result.h"
#include "clients/kvload/workload.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve::load {

// Request fields that are the same for every request of a run.
struct CallOptions {
  float temperature = 0;
  bool ignore_eos = true;
  int64_t deadline_ms = 0;        // 0 = no deadline
  std::vector<std::string> stop;  // text stop sequences
  int32_t n = 1;                  // samples per request
  bool chat = false;              // send the (text) prompt as one user message of a chat prompt
};

// The request for `plan`: id "kvload-<index>", its prompt (ids or text; with `chat`, the text as
// the one user message of a chat prompt), max_tokens, stop strings, n, and seeded sampling when
// temperature > 0.
v1::GenerateRequest MakeGenerateRequest(const RequestPlan& plan, const CallOptions& options);

// The deadline, the plan's cancel point, and tag = the plan's index.
GenerateCallOptions MakeCallOptions(const RequestPlan& plan, const CallOptions& options);

// A record holding the plan's fields, for ToRequestRecord to complete when the call is done.
RequestRecord PlannedRecord(const RequestPlan& plan);

// Completes `planned` (from PlannedRecord) with what the call recorded. `clock_zero` is the run's
// start. The outcome: kOk if the status is OK; else kAborted if the call was aborted, kCancelled
// if kvload cancelled it on plan and the status is CANCELLED, kError otherwise.
RequestRecord ToRequestRecord(RequestRecord planned, const GenerateRecord& call,
                              std::chrono::steady_clock::time_point clock_zero);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_LOAD_CALL_H_
