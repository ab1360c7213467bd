// RunLoad: one load run. It issues the workload's requests as Generate streams over a
// ChannelPool (or, with `openai`, as SSE streams to the HTTP front end), keeping at most
// `concurrency` in flight, and returns a record per request.
//
//   * Closed loop: rate = infinity, concurrency = N. N streams in flight; each end starts the next.
//   * Open loop: finite rate (Poisson arrivals from WorkloadGenerator); concurrency 0 = no cap, or
//     a cap on streams in flight (requests then wait for a slot, as in vLLM's --max-concurrency).
//
// Ends when the workload's num_requests have all finished, or `duration_s` after the start
// (then no new request starts; streams in flight get `drain_seconds` to finish and are then
// aborted), and never later than `max_seconds` after the start (streams still in flight are
// aborted; they are recorded as Outcome::kAborted).
//
// Threads: RunLoad blocks its calling thread, which is the only thread that starts streams and
// draws the progress line; stream callbacks run on gRPC's callback threads. No thread per stream.
#ifndef KVSERVE_CLIENTS_KVLOAD_LOAD_RUNNER_H_
#define KVSERVE_CLIENTS_KVLOAD_LOAD_RUNNER_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "clients/kvload/channel_pool.h"
#include "clients/kvload/load_call.h"
#include "clients/kvload/openai_stream_client.h"
#include "clients/kvload/progress_line.h"
#include "clients/kvload/run_result.h"
#include "clients/kvload/workload.h"

namespace kvserve::load {

struct LoadOptions {
  WorkloadOptions workload;
  CallOptions call;
  // Most streams in flight; 0 = no cap (open loop only).
  int32_t concurrency = 0;
  // Stop starting requests after this many seconds; 0 = no limit (num_requests bounds the run).
  double duration_s = 0;
  // After duration_s, how long streams in flight may take to finish before being aborted.
  double drain_seconds = 30;
  // Hard bound on the whole run, in seconds.
  double max_seconds = 3600;
  // Set: the requests go to this OpenAI-compatible HTTP server as SSE streams
  // (openai_stream_client.h) instead of gRPC Generate calls over the pool (which then only serves
  // the ServerInfo checks around the run).
  std::optional<OpenAiStreamClient::Options> openai;
};

// INVALID_ARGUMENT unless the options describe a bounded run with a bounded number of streams.
absl::Status ValidateLoad(const LoadOptions& options);

// Runs the load against `pool`'s target. `progress` may be null (or disabled). Fails only if the
// options are invalid or streams did not end after being aborted (then the process should exit,
// as gRPC still holds them).
absl::StatusOr<RunResult> RunLoad(const LoadOptions& options, ChannelPool& pool,
                                  ProgressLine* progress);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_LOAD_RUNNER_H_
