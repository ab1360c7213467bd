// SoakRunner: sends every plan of a soak run with at most `concurrency` streams in flight, over a
// ChannelPool, and collects one SoakObservation per request.
//
// Each request is a GenerateCall (clients/generate_call.h) with the plan's deadline and cancel
// point, tagged with the plan's index. Run starts calls from the calling thread as slots free up
// (no thread per stream); gRPC's callback threads report each end through OnCallDone. A request
// whose terminal status arrives twice gets done_calls 2; one that never ends by the run's timeout
// keeps done_calls 0 and is then cancelled (Abort) so the run can finish; `hung` counts streams
// that did not end even after that (the pool must then not be destroyed: the caller should exit
// the process).
//
// Threads: Run from one thread; OnCallDone from gRPC's threads. The pool and plans must outlive
// the runner. ObservationOf is a pure function.
#ifndef KVSERVE_CLIENTS_KVSOAK_SOAK_RUNNER_H_
#define KVSERVE_CLIENTS_KVSOAK_SOAK_RUNNER_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/generate_call.h"
#include "clients/kvload/channel_pool.h"
#include "clients/kvsoak/soak_check.h"
#include "clients/kvsoak/soak_plan.h"

namespace kvserve::soak {

struct SoakRunResult {
  std::vector<SoakObservation> seen;  // by plan index
  double seconds = 0;
  int64_t timed_out = 0;  // streams still running at the timeout (then aborted)
  int64_t hung = 0;       // streams that did not end even after being aborted
};

// What the soak checks of one finished call (done_calls is the runner's to count).
SoakObservation ObservationOf(const GenerateRecord& record);

class SoakRunner final : public GenerateCallObserver {
 public:
  SoakRunner(load::ChannelPool* pool, const std::vector<SoakPlan>* plans, int concurrency);

  // Progress goes to stderr every `progress_every` finished requests (0 = never).
  SoakRunResult Run(absl::Duration timeout, int64_t progress_every);

  void OnCallDone(GenerateCall& call, GenerateRecord record) override;
  void OnCallDeleted() override;

 private:
  // Cancels every live call and waits (bounded) for their ends; how many are still live.
  int64_t AbortLive(absl::Duration wait) ABSL_LOCKS_EXCLUDED(mu_);

  load::ChannelPool* const pool_;
  const std::vector<SoakPlan>* const plans_;
  const int concurrency_;
  int64_t progress_every_ = 0;

  absl::Mutex mu_;
  std::vector<SoakObservation> seen_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<GenerateCall*, int> live_ ABSL_GUARDED_BY(mu_);  // call → its channel
  int64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  // Calls created and not yet deleted; Run waits for none (bounded) before it returns.
  int64_t undeleted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kvserve::soak

#endif  // KVSERVE_CLIENTS_KVSOAK_SOAK_RUNNER_H_
