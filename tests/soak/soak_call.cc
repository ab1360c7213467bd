#include "tests/soak/soak_call.h"

#include <chrono>

#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve::soak {

void SoakCall::Begin(kvserve::v1::Generation::Stub* stub) {
  if (plan_->deadline_ms > 0) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(plan_->deadline_ms));
  }
  stub->async()->Generate(&context_, &plan_->request, this);
  StartRead(&response_);
  StartCall();
}

void SoakCall::OnReadDone(bool ok) {
  if (!ok) return;  // the stream is over; OnDone follows
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    const bool final_seen_before = seen_.finish_reason != kvserve::v1::FINISH_REASON_UNSPECIFIED;
    if (final_seen_before) seen_.message_after_final = true;
    ++seen_.messages;
    seen_.tokens += response_.token_ids_size();
    if (response_.request_id() != plan_->request.request_id()) seen_.request_id_mismatch = true;
    const bool has_finish = response_.finish_reason() != kvserve::v1::FINISH_REASON_UNSPECIFIED;
    if (has_finish != response_.has_usage()) seen_.final_fields_split = true;
    if (has_finish) seen_.finish_reason = response_.finish_reason();
    if (response_.has_usage()) {
      seen_.has_usage = true;
      seen_.usage_prompt_tokens = response_.usage().prompt_tokens();
      seen_.usage_completion_tokens = response_.usage().completion_tokens();
    }
    // Once the final message is here, a cancel would only race the OK status.
    if (!seen_.cancel_sent && !has_finish && plan_->cancel_after_tokens > 0 &&
        seen_.tokens >= plan_->cancel_after_tokens) {
      seen_.cancel_sent = cancel = true;
    }
  }
  if (cancel) context_.TryCancel();  // outside mu_: it may run callbacks inline
  StartRead(&response_);  // after a cancel the read fails and the status follows
}

void SoakCall::OnDone(const grpc::Status& status) {
  SoakObservation seen;
  {
    absl::MutexLock lock(&mu_);
    seen_.started = true;
    seen_.aborted = aborted_.load(std::memory_order_relaxed);
    if (++seen_.done_calls == 1) {
      seen_.status_code = static_cast<int32_t>(status.error_code());
      seen_.status_message = status.error_message();
    }
    seen = seen_;
  }
  observer_->OnSoakCallDone(this, seen);
  Unref();
}

}  // namespace kvserve::soak
