#include "engine/sched/scheduler_stats.h"

namespace kvserve {
namespace {

void TakeState(const StepStats& step, SchedulerStats* stats) {
  stats->running = step.running;
  stats->waiting = step.waiting;
  stats->total_pages = step.total_pages;
  stats->free_pages = step.free_pages;
  stats->cached_pages = step.cached_pages;
  stats->shared_pages = step.shared_pages;
  stats->kv_tokens = step.kv_tokens;
  stats->kv_unused_slots = step.kv_unused_slots;
}

}  // namespace

StatsAccumulator::StatsAccumulator(const StepStats& initial) {
  TakeState(initial, &pending_);
  published_ = pending_;
}

void StatsAccumulator::OnRequestEnded(const RequestEndStats& request) {
  if (request.code == absl::StatusCode::kOk) {
    ++pending_.requests_finished;
  } else {
    ++pending_.requests_failed;
  }
}

void StatsAccumulator::OnStep(const StepStats& step) {
  if (step.num_seqs > 0) ++pending_.steps;
  pending_.prompt_tokens += step.num_prompt_tokens;
  pending_.generated_tokens += step.num_generated_tokens;
  pending_.cached_prompt_tokens += step.num_cached_prompt_tokens;
  TakeState(step, &pending_);
  absl::MutexLock lock(&mu_);
  published_ = pending_;
}

SchedulerStats StatsAccumulator::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return published_;
}

}  // namespace kvserve
