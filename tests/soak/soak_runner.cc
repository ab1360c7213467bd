#include "tests/soak/soak_runner.h"

#include <cstdint>
#include <cstdio>
#include <vector>

#include "absl/time/clock.h"

namespace kvserve::soak {

SoakRunner::SoakRunner(load::ChannelPool* pool, const std::vector<SoakPlan>* plans,
                       int concurrency)
    : pool_(pool), plans_(plans), concurrency_(concurrency) {
  seen_.resize(plans->size());
}

SoakRunResult SoakRunner::Run(absl::Duration timeout, int64_t progress_every) {
  progress_every_ = progress_every;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + timeout;
  auto has_slot = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(live_.size()) < concurrency_;
  };
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return live_.empty(); };

  SoakRunResult result;
  for (const SoakPlan& plan : *plans_) {
    SoakCall* call = SoakCall::Create(&plan, this);
    {
      absl::MutexLock lock(&mu_);
      if (!mu_.AwaitWithDeadline(absl::Condition(&has_slot), deadline)) {
        delete call;  // never started
        break;
      }
    }
    // Only this thread adds calls, so the slot found above is still free.
    const int channel = pool_->Acquire();
    {
      absl::MutexLock lock(&mu_);
      live_.emplace(call, channel);
      seen_[static_cast<size_t>(plan.index)].started = true;
    }
    call->Begin(pool_->stub(channel));
  }
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
    result.timed_out = static_cast<int64_t>(live_.size());
  }
  if (result.timed_out > 0) result.hung = AbortLive(absl::Seconds(5));
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  absl::MutexLock lock(&mu_);
  result.seen = seen_;
  return result;
}

int64_t SoakRunner::AbortLive(absl::Duration wait) {
  std::vector<SoakCall*> calls;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [call, channel] : live_) {
      call->Ref();
      calls.push_back(call);
    }
  }
  for (SoakCall* call : calls) {
    call->Abort();
    call->Unref();
  }
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return live_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&idle), wait);
  return static_cast<int64_t>(live_.size());
}

void SoakRunner::OnSoakCallDone(SoakCall* call, const SoakObservation& seen) {
  absl::MutexLock lock(&mu_);
  SoakObservation& slot = seen_[static_cast<size_t>(call->plan().index)];
  if (slot.done_calls > 0) {
    ++slot.done_calls;  // a second terminal status for the same request
  } else {
    slot = seen;
    slot.done_calls = 1;
    ++finished_;
    if (progress_every_ > 0 && finished_ % progress_every_ == 0) {
      std::fprintf(stderr, "kvsoak: %lld/%zu requests done\n", static_cast<long long>(finished_),
                   plans_->size());
    }
  }
  const auto it = live_.find(call);
  if (it != live_.end()) {
    pool_->Release(it->second);
    live_.erase(it);
  }
}

}  // namespace kvserve::soak
