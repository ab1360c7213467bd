// SoakRunner: sends every plan of a soak run with at most `concurrency` streams in flight, over a
// ChannelPool, and collects one SoakObservation per request.
//
// Run starts calls from the calling thread as slots free up (no thread per stream); gRPC's
// callback threads report each end through OnSoakCallDone. A request whose terminal status
// arrives twice gets done_calls 2; one that never ends by the run's timeout keeps done_calls 0
// and is then cancelled (Abort) so the run can finish; `hung` counts streams that did not end even
// after that (the pool must then not be destroyed: the caller should exit the process).
//
// Threads: Run from one thread; OnSoakCallDone from gRPC's threads. The pool and plans must
// outlive the runner.
#ifndef KVSERVE_TESTS_SOAK_SOAK_RUNNER_H_
#define KVSERVE_TESTS_SOAK_SOAK_RUNNER_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/kvload/channel_pool.h"
#include "tests/soak/soak_call.h"
#include "tests/soak/soak_check.h"
#include "tests/soak/soak_plan.h"

namespace kvserve::soak {

struct SoakRunResult {
  std::vector<SoakObservation> seen;  // by plan index
  double seconds = 0;
  int64_t timed_out = 0;  // streams still running at the timeout (then aborted)
  int64_t hung = 0;       // streams that did not end even after being aborted
};

class SoakRunner final : public SoakCallObserver {
 public:
  SoakRunner(load::ChannelPool* pool, const std::vector<SoakPlan>* plans, int concurrency);

  // Progress goes to stderr every `progress_every` finished requests (0 = never).
  SoakRunResult Run(absl::Duration timeout, int64_t progress_every);

  void OnSoakCallDone(SoakCall* call, const SoakObservation& seen) override;

 private:
  // Cancels every live call and waits (bounded) for their ends; how many are still live.
  int64_t AbortLive(absl::Duration wait) ABSL_LOCKS_EXCLUDED(mu_);

  load::ChannelPool* const pool_;
  const std::vector<SoakPlan>* const plans_;
  const int concurrency_;
  int64_t progress_every_ = 0;

  absl::Mutex mu_;
  std::vector<SoakObservation> seen_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<SoakCall*, int> live_ ABSL_GUARDED_BY(mu_);  // call → its channel
  int64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kvserve::soak

#endif  // KVSERVE_TESTS_SOAK_SOAK_RUNNER_H_
