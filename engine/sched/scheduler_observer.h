// SchedulerObserver: what the Scheduler tells a monitor (the server's Prometheus metrics, a test)
// about its steps and requests. engine/ knows nothing of how the figures are exported.
//
// Calls: all from the thread that runs the scheduler's loop (the scheduler thread, or a test that
// drives Step() itself; Start() makes the first call before that thread exists and Shutdown() the
// last ones after joining it), so they never overlap and come in the order the events happened.
// A hook must not call back into the Scheduler (Start() calls it under the submission lock). Every
// call is made while the whole batch waits on it: implementations must be cheap and must never
// block on I/O or on a lock that can be held for long (atomic counters, or a mutex held for a few
// instructions, are fine).
//
// Timestamps come from the scheduler's Clock (Scheduler::Create); durations are clamped at zero
// in case that clock steps backwards.
//
// When the hooks fire, for one request:
//   Submit accepted ─► OnRequestAdmitted (first admission only; not again after a preemption)
//                   ─► OnFirstToken (once, when its first token is sampled)
//                   ─► OnRequestEnded (exactly once, before its sink's terminal call)
// A request refused by Submit reaches none of them (the submitter counts refusals). Per step:
// OnPreemption for each request preempted while planning, then OnStep once at its end.
#ifndef KVSERVE_ENGINE_SCHED_SCHEDULER_OBSERVER_H_
#define KVSERVE_ENGINE_SCHED_SCHEDULER_OBSERVER_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/sched/finish_reason.h"

namespace kvserve {

// One scheduler step. The batch fields are all zero when the step ran no batch (it only took
// submissions and ended cancelled or expired requests; Start() and Shutdown() report the initial
// and final states so too).
struct StepStats {
  int32_t num_seqs = 0;                  // sequences in the batch
  int32_t num_prefill_tokens = 0;        // batched tokens that were not decodes: prompt chunks, and
                                         // prompt + output recomputed after a preemption
  int32_t num_decode_tokens = 0;         // one-token chunks of an already generated token
  int32_t num_prompt_tokens = 0;         // prompt lengths of the requests whose prompt prefill
                                         // completed in this step, each request once (recomputation
                                         // excluded): SchedulerStats::prompt_tokens' increase
  int32_t num_generated_tokens = 0;      // tokens sampled and handed to sinks in this step:
                                         // SchedulerStats::generated_tokens' increase
  int32_t num_cached_prompt_tokens = 0;  // prompt tokens of requests first admitted in this step
                                         // that were found in the prefix cache
  // From the start of the step (after taking submissions) until its logits were ready: admission,
  // planning, batch building and the engine step. Zero when no batch ran.
  absl::Duration duration = absl::ZeroDuration();

  // The state after the step, as SchedulerStats reports it.
  int32_t running = 0;
  int32_t waiting = 0;  // queued, including submissions not yet taken
  int64_t free_pages = 0;
  int64_t cached_pages = 0;  // free pages still holding a reusable prefix
  int64_t total_pages = 0;
  int64_t shared_pages = 0;  // pages in use by more than one sequence (forks, shared prefixes)
  // Running requests' KV: the tokens their pages hold, and the slots of those pages still empty.
  int64_t kv_tokens = 0;
  int64_t kv_unused_slots = 0;
};

// One request's end.
struct RequestEndStats {
  // kOk: it finished (the sink got OnFinish with `finish_reason`); otherwise the code the sink's
  // OnError got: CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE (shutdown), INTERNAL (engine error).
  absl::StatusCode code = absl::StatusCode::kOk;
  FinishReason finish_reason = FinishReason::kNone;  // kNone unless code == kOk
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;                      // tokens handed to the sink (for any outcome)
  absl::Duration e2e_latency = absl::ZeroDuration();  // from Submit to the end
  // The mean gap between successive tokens: (last token − first token) / (completion_tokens − 1).
  // Set only when completion_tokens >= 2.
  std::optional<absl::Duration> time_per_output_token;
};

// Every hook has an empty default, so an observer overrides only what it needs.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;

  // At the end of every Step() (after stats() publishes it, before the step's terminal sink calls);
  // also once from Start() with the initial state and once from Shutdown() with the final one.
  virtual void OnStep(const StepStats& /*step*/) {}
  // A running request was preempted (its pages freed, back to the front of the queue).
  virtual void OnPreemption() {}
  // A request was admitted into the batch for the first time, `queue_time` after its Submit.
  virtual void OnRequestAdmitted(absl::Duration /*queue_time*/) {}
  // A request's first token was sampled, `time_to_first_token` after its Submit.
  virtual void OnFirstToken(absl::Duration /*time_to_first_token*/) {}
  // A request ended; see RequestEndStats.
  virtual void OnRequestEnded(const RequestEndStats& /*request*/) {}
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_SCHEDULER_OBSERVER_H_
