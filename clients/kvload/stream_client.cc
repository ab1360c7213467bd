#include "clients/kvload/stream_client.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve::load {

GenerateCall* GenerateCall::Create(int channel, const RequestPlan& plan,
                                   const CallOptions& options, Clock::time_point clock_zero,
                                   CallObserver* observer) {
  return new GenerateCall(channel, plan, options, clock_zero, observer);
}

void GenerateCall::Begin(kvserve::v1::Generation::Stub* stub) {
  {
    absl::MutexLock lock(&mu_);  // read by the callbacks, on other threads
    start_ = Clock::now();
    record_.start_s = std::chrono::duration<double>(start_ - clock_zero_).count();
  }
  if (deadline_ms_ > 0) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(deadline_ms_));
  }
  stub->async()->Generate(&context_, &request_, this);
  StartRead(&response_);
  StartCall();
}

GenerateCall::GenerateCall(int channel, const RequestPlan& plan, const CallOptions& options,
                           Clock::time_point clock_zero, CallObserver* observer)
    : channel_(channel),
      observer_(observer),
      clock_zero_(clock_zero),
      deadline_ms_(options.deadline_ms) {
  request_.set_request_id("kvload-" + std::to_string(plan.index));
  if (plan.prompt_text.empty()) {
    request_.mutable_token_ids()->mutable_ids()->Add(plan.prompt_ids.begin(),
                                                        plan.prompt_ids.end());
  } else {
    request_.set_text(plan.prompt_text);
  }
  request_.set_max_tokens(plan.max_tokens);
  request_.set_ignore_eos(options.ignore_eos);
  if (options.temperature > 0) {
    request_.mutable_sampling()->set_temperature(options.temperature);
    request_.mutable_sampling()->set_seed(plan.sampling_seed);
  }

  record_.index = plan.index;
  record_.prompt_len = plan.prompt_len;
  record_.max_tokens = plan.max_tokens;
  record_.cancel_after_tokens = plan.cancel_after_tokens;
  // At most one message per token (the server may coalesce, never split); the reservation is
  // capped so that a thousand long streams do not reserve memory they may never use.
  record_.messages.reserve(static_cast<size_t>(std::min(plan.max_tokens, 256)));
}

double GenerateCall::SinceStart() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

void GenerateCall::Abort() {
  aborted_.store(true, std::memory_order_relaxed);
  context_.TryCancel();
}

void GenerateCall::OnReadDone(bool ok) {
  if (!ok) return;  // the stream is over; OnDone follows
  const int32_t n = response_.token_ids_size();
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    if (n > 0) {
      record_.messages.push_back({SinceStart(), n});
      record_.tokens += n;
    }
    if (response_.finish_reason() != kvserve::v1::FINISH_REASON_UNSPECIFIED) {
      record_.finish_reason = response_.finish_reason();
    }
    if (response_.has_usage()) {
      record_.usage_prompt_tokens = response_.usage().prompt_tokens();
      record_.usage_completion_tokens = response_.usage().completion_tokens();
      record_.usage_cached_prompt_tokens = response_.usage().cached_prompt_tokens();
    }
    // A stream whose last message has arrived is complete: cancelling it now would only race its
    // OK status (the cancel point can land in the final, coalesced message).
    const bool finished = record_.finish_reason != kvserve::v1::FINISH_REASON_UNSPECIFIED;
    if (!cancel_sent_ && !finished && record_.cancel_after_tokens >= 0 &&
        record_.tokens >= record_.cancel_after_tokens) {
      cancel_sent_ = cancel = true;
    }
  }
  if (n > 0) observer_->OnTokens(n);
  if (cancel) context_.TryCancel();  // outside mu_: it may run callbacks inline
  // Keep reading even after a cancel: the read then fails and the final status follows.
  StartRead(&response_);
}

void GenerateCall::OnDone(const grpc::Status& status) {
  RequestRecord record;
  {
    absl::MutexLock lock(&mu_);
    record_.end_s = SinceStart();
    record_.status_code = static_cast<int32_t>(status.error_code());
    if (status.ok()) {
      record_.outcome = Outcome::kOk;
    } else {
      record_.status_message = status.error_message();
      if (aborted_.load(std::memory_order_relaxed)) {
        record_.outcome = Outcome::kAborted;
      } else if (cancel_sent_ && status.error_code() == grpc::StatusCode::CANCELLED) {
        record_.outcome = Outcome::kCancelled;
      } else {
        record_.outcome = Outcome::kError;
      }
    }
    record = std::move(record_);
  }
  observer_->OnCallDone(this, std::move(record));
  Unref();
}

void GenerateCall::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

}  // namespace kvserve::load
