#include "clients/kvsoak/soak_runner.h"

#include <cstdint>
#include <cstdio>
#include <vector>

#include "absl/time/clock.h"

namespace kvserve::soak {

SoakObservation ObservationOf(const GenerateRecord& record) {
  SoakObservation seen;
  seen.status_code = static_cast<int32_t>(record.status.error_code());
  seen.status_message = record.status.error_message();
  seen.messages = static_cast<int64_t>(record.messages.size());
  seen.tokens = record.tokens;
  seen.cancel_sent = record.cancel_sent;
  seen.started = true;
  seen.aborted = record.aborted;
  seen.finish_reason = record.finish_reason;
  seen.has_usage = record.has_usage;
  seen.usage_prompt_tokens = record.usage.prompt_tokens();
  seen.usage_completion_tokens = record.usage.completion_tokens();
  seen.message_after_final = record.message_after_final;
  seen.final_fields_split = record.final_fields_split;
  seen.request_id_mismatch = record.request_id_mismatch;
  return seen;
}

SoakRunner::SoakRunner(load::ChannelPool* pool, const std::vector<SoakPlan>* plans, int concurrency)
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
    GenerateCall* call =
        GenerateCall::Create(plan.request,
                             GenerateCallOptions{.deadline_ms = plan.deadline_ms,
                                                 .cancel_after_tokens = plan.cancel_after_tokens,
                                                 .tag = plan.index},
                             this);
    bool has_slot_in_time = false;
    {
      absl::MutexLock lock(&mu_);
      ++undeleted_;
      has_slot_in_time = mu_.AwaitWithDeadline(absl::Condition(&has_slot), deadline);
    }
    if (!has_slot_in_time) {
      call->Unref();  // never started: drops the call's own reference, deleting it (without mu_)
      break;
    }
    // Only this thread adds calls, so the slot found above is still free.
    const int channel = pool_->Acquire();
    {
      absl::MutexLock lock(&mu_);
      live_.emplace(call, channel);
      seen_[static_cast<size_t>(plan.index)].started = true;
    }
    call->Start(pool_->stub(channel));
  }
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
    result.timed_out = static_cast<int64_t>(live_.size());
  }
  if (result.timed_out > 0) result.hung = AbortLive(absl::Seconds(5));
  result.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  absl::MutexLock lock(&mu_);
  if (result.hung == 0) {
    // Every call has ended; their deletions follow at once.
    auto all_deleted = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return undeleted_ == 0; };
    mu_.AwaitWithTimeout(absl::Condition(&all_deleted), absl::Seconds(5));
  }
  result.seen = seen_;
  return result;
}

int64_t SoakRunner::AbortLive(absl::Duration wait) {
  std::vector<GenerateCall*> calls;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [call, channel] : live_) {
      call->Ref();
      calls.push_back(call);
    }
  }
  for (GenerateCall* call : calls) {
    call->Abort();
    call->Unref();
  }
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return live_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&idle), wait);
  return static_cast<int64_t>(live_.size());
}

void SoakRunner::OnCallDeleted() {
  absl::MutexLock lock(&mu_);
  --undeleted_;
}

void SoakRunner::OnCallDone(GenerateCall& call, GenerateRecord record) {
  absl::MutexLock lock(&mu_);
  SoakObservation& slot = seen_[static_cast<size_t>(call.tag())];
  if (slot.done_calls > 0) {
    ++slot.done_calls;  // a second terminal status for the same request
  } else {
    slot = ObservationOf(record);
    slot.done_calls = 1;
    ++finished_;
    if (progress_every_ > 0 && finished_ % progress_every_ == 0) {
      std::fprintf(stderr, "kvsoak: %lld/%zu requests done\n", static_cast<long long>(finished_),
                   plans_->size());
    }
  }
  const auto it = live_.find(&call);
  if (it != live_.end()) {
    pool_->Release(it->second);
    live_.erase(it);
  }
}

}  // namespace kvserve::soak
