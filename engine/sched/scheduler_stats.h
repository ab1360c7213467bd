// SchedulerStats and the observer that accumulates them.
//
// The scheduler does not count anything itself: every figure in SchedulerStats is folded from the
// SchedulerObserver events it already reports (scheduler_observer.h) by a StatsAccumulator, the
// first of the observers the scheduler notifies (ObserverList). A monitor that hears the same
// events therefore sees the same totals.
//
// Threads: StatsAccumulator's hooks are called on the scheduler thread (as every observer's are);
// Snapshot() may be called from any thread. The totals it returns change only at OnStep, so a
// snapshot never shows a request ended whose step has not been published.
#ifndef KVSERVE_ENGINE_SCHED_SCHEDULER_STATS_H_
#define KVSERVE_ENGINE_SCHED_SCHEDULER_STATS_H_

#include <cstdint>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "engine/sched/scheduler_observer.h"

namespace kvserve {

struct SchedulerStats {
  int32_t running = 0;
  int32_t waiting = 0;
  int64_t total_pages = 0;
  int64_t free_pages = 0;
  int64_t cached_pages = 0;  // free pages still holding a reusable prefix
  int64_t shared_pages = 0;  // pages in use by more than one sequence (forks, shared prefixes)
  int64_t preemptions = 0;
  int64_t steps = 0;              // steps that ran a batch
  int64_t requests_finished = 0;  // ended with OnFinish
  int64_t requests_failed = 0;  // ended with OnError (cancelled, expired, shut down, engine error)
  int64_t prompt_tokens = 0;    // prompt tokens prefilled (recomputation after preemption excluded)
  int64_t generated_tokens = 0;      // tokens streamed
  int64_t cached_prompt_tokens = 0;  // prompt tokens served from the prefix cache (first admission)
  // KV slots of running requests' pages that hold no token yet, and the tokens they hold; the
  // difference is at most page_size - 1 per request by construction.
  int64_t kv_unused_slots = 0;
  int64_t kv_tokens = 0;
};

// Folds the events into SchedulerStats: counters add up, the state after the step (running,
// waiting, pages, KV slots) is taken from each OnStep.
class StatsAccumulator final : public SchedulerObserver {
 public:
  explicit StatsAccumulator(const StepStats& initial);

  void OnStep(const StepStats& step) override;
  void OnPreemption() override { ++pending_.preemptions; }
  void OnRequestEnded(const RequestEndStats& request) override;

  SchedulerStats Snapshot() const;

 private:
  SchedulerStats pending_;  // scheduler thread: this step's ended requests and preemptions
  mutable absl::Mutex mu_;
  SchedulerStats published_ ABSL_GUARDED_BY(mu_);
};

// Forwards every event to each observer in order. Observers are not owned and must outlive it.
class ObserverList final : public SchedulerObserver {
 public:
  void Add(SchedulerObserver* observer) {
    if (observer != nullptr) observers_.push_back(observer);
  }
  void OnStep(const StepStats& step) override {
    for (SchedulerObserver* o : observers_) o->OnStep(step);
  }
  void OnPreemption() override {
    for (SchedulerObserver* o : observers_) o->OnPreemption();
  }
  void OnRequestAdmitted(absl::Duration queue_time) override {
    for (SchedulerObserver* o : observers_) o->OnRequestAdmitted(queue_time);
  }
  void OnFirstToken(absl::Duration time_to_first_token) override {
    for (SchedulerObserver* o : observers_) o->OnFirstToken(time_to_first_token);
  }
  void OnRequestEnded(const RequestEndStats& request) override {
    for (SchedulerObserver* o : observers_) o->OnRequestEnded(request);
  }

 private:
  std::vector<SchedulerObserver*> observers_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_SCHEDULER_STATS_H_
