#include "clients/generate_call.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/synchronization/notification.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve {

double GenerateRecord::FirstTokenSeconds() const {
  for (const MessageArrival& m : messages) {
    if (m.tokens > 0) return m.t_s;
  }
  return -1;
}

bool GenerateRecord::AllSamplesFinished() const {
  return std::all_of(samples.begin(), samples.end(), [](const SampleRecord& s) {
    return s.finish_reason != v1::FINISH_REASON_UNSPECIFIED;
  });
}

bool AppendToSample(const v1::GenerateResponse& response, bool keep_output, SampleRecord* sample) {
  sample->tokens += response.token_ids_size();
  if (keep_output) {
    sample->text += response.text();
    sample->token_ids.insert(sample->token_ids.end(), response.token_ids().begin(),
                             response.token_ids().end());
    sample->logprobs.insert(sample->logprobs.end(), response.logprobs().begin(),
                            response.logprobs().end());
  }
  if (response.finish_reason() == v1::FINISH_REASON_UNSPECIFIED) return false;
  const bool first_finish = sample->finish_reason == v1::FINISH_REASON_UNSPECIFIED;
  sample->finish_reason = response.finish_reason();
  sample->has_stop_string = response.has_stop_string();
  sample->stop_string = response.stop_string();
  sample->stop_token_id = response.has_stop_token_id() ? response.stop_token_id() : -1;
  return first_finish;
}

GenerateCall* GenerateCall::Create(v1::GenerateRequest request, const GenerateCallOptions& options,
                                   GenerateCallObserver* observer) {
  return new GenerateCall(std::move(request), options, observer);
}

GenerateCall::GenerateCall(v1::GenerateRequest request, const GenerateCallOptions& options,
                           GenerateCallObserver* observer)
    : request_(std::move(request)), options_(options), tag_(options.tag), observer_(observer) {
  // At most one message per token (the server may coalesce, never split); the reservation is
  // capped so that a thousand long streams do not reserve memory they may never use.
  record_.messages.reserve(static_cast<size_t>(std::clamp(request_.max_tokens(), 0, 256)));
  // A request with an n out of range (up to 2^31 - 1: an invalid one, which the server refuses
  // before any message) must not reserve a record per sample.
  unfinished_samples_ = std::clamp(request_.n(), 1, GenerateRecord::kMaxRecordedSamples);
  record_.samples.resize(static_cast<size_t>(unfinished_samples_));
}

void GenerateCall::Start(v1::Generation::Stub* stub) {
  {
    absl::MutexLock lock(&mu_);  // read by the callbacks, on other threads
    record_.start = std::chrono::steady_clock::now();
  }
  if (options_.deadline_ms > 0) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(options_.deadline_ms));
  }
  stub->async()->Generate(&context_, &request_, this);
  StartRead(&response_);
  StartCall();
}

void GenerateCall::Abort() {
  aborted_.store(true, std::memory_order_relaxed);
  context_.TryCancel();
}

double GenerateCall::SinceStartLocked() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - record_.start).count();
}

bool GenerateCall::RecordLocked() {
  GenerateRecord& r = record_;
  const int32_t n = response_.token_ids_size();
  const int32_t index = response_.index();
  r.messages.push_back({SinceStartLocked(), n, index});
  if (options_.keep_responses) r.responses.push_back(response_);
  r.tokens += n;
  if (response_.request_id() != request_.request_id()) r.request_id_mismatch = true;
  if (r.has_usage) r.message_after_final = true;  // nothing may follow the stream's last message
  const bool has_finish = response_.finish_reason() != v1::FINISH_REASON_UNSPECIFIED;
  bool finishes_last = false;
  if (index < 0 || static_cast<size_t>(index) >= r.samples.size()) {
    r.index_out_of_range = true;
  } else {
    SampleRecord& sample = r.samples[static_cast<size_t>(index)];
    if (sample.finish_reason != v1::FINISH_REASON_UNSPECIFIED) r.message_after_final = true;
    if (AppendToSample(response_, options_.keep_output, &sample)) {
      finishes_last = --unfinished_samples_ == 0;
    }
  }
  if (options_.keep_output) {
    r.prompt_logprobs.insert(r.prompt_logprobs.end(), response_.prompt_logprobs().begin(),
                             response_.prompt_logprobs().end());
  }
  // The message that finishes the last sample, and only it, has usage (n = 1: the finish).
  if (finishes_last != response_.has_usage()) r.final_fields_split = true;
  if (has_finish) r.finish_reason = response_.finish_reason();
  if (response_.has_usage()) {
    r.has_usage = true;
    r.usage = response_.usage();
  }
  // A stream whose last message has arrived is complete: cancelling it now would only race its
  // OK status (the cancel point can land in the final, coalesced message).
  const bool finished = r.has_usage || unfinished_samples_ == 0;
  if (!r.cancel_sent && !finished && options_.cancel_after_tokens > 0 &&
      r.tokens >= options_.cancel_after_tokens) {
    r.cancel_sent = true;
    return true;
  }
  return false;
}

void GenerateCall::OnReadDone(bool ok) {
  if (!ok) return;  // the stream is over; OnDone follows
  bool cancel = false;
  {
    absl::MutexLock lock(&mu_);
    cancel = RecordLocked();
  }
  if (observer_ != nullptr && !observer_->OnResponse(*this, response_)) {
    absl::MutexLock lock(&mu_);
    if (!record_.cancel_sent) record_.cancel_sent = cancel = true;
  }
  if (cancel) context_.TryCancel();  // outside mu_: it may run callbacks inline
  // Keep reading even after a cancel: the read then fails and the final status follows.
  StartRead(&response_);
}

void GenerateCall::OnDone(const grpc::Status& status) {
  GenerateRecord record;
  {
    absl::MutexLock lock(&mu_);
    record_.end_s = SinceStartLocked();
    record_.status = status;
    record_.aborted = aborted_.load(std::memory_order_relaxed);
    record = std::move(record_);
  }
  if (observer_ != nullptr) observer_->OnCallDone(*this, std::move(record));
  Unref();
}

void GenerateCall::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    GenerateCallObserver* const observer = observer_;
    delete this;
    if (observer != nullptr) observer->OnCallDeleted();
  }
}

namespace {

// RunGenerateCall's observer: lives on the waiting thread's stack, which it wakes at the end.
class BlockingObserver final : public GenerateCallObserver {
 public:
  explicit BlockingObserver(const ResponseCallback& on_response) : on_response_(on_response) {}

  bool OnResponse(GenerateCall&, const v1::GenerateResponse& response) override {
    // Under mu_ although gRPC runs one callback at a time: consecutive ones may run on different
    // threads (see the header), and this gives what on_response_ keeps between them an order
    // that TSan sees.
    absl::MutexLock lock(&mu_);
    const int index = responses_++;
    return !on_response_ || on_response_(response, index);
  }
  void OnCallDone(GenerateCall&, GenerateRecord record) override { record_ = std::move(record); }
  // Waking the waiter only now, not in OnCallDone, keeps the call's ClientContext from being
  // destroyed on a gRPC thread after RunGenerateCall returned, when the caller may already be
  // tearing down the channel or the process (gRPC then fails a ref-count check at exit).
  void OnCallDeleted() override {
    deleted_.Notify();  // the last touch of this object: the waiter may destroy it from here on
  }

  GenerateRecord Wait() {
    deleted_.WaitForNotification();
    return std::move(record_);
  }

 private:
  const ResponseCallback& on_response_;
  absl::Mutex mu_;
  int responses_ ABSL_GUARDED_BY(mu_) = 0;
  GenerateRecord record_;  // written before deleted_ is notified, read after
  absl::Notification deleted_;
};

}  // namespace

GenerateRecord RunGenerateCall(v1::Generation::Stub& stub, v1::GenerateRequest request,
                               const GenerateCallOptions& options,
                               const ResponseCallback& on_response) {
  BlockingObserver observer(on_response);
  GenerateCall::Create(std::move(request), options, &observer)->Start(&stub);
  return observer.Wait();
}

}  // namespace kvserve
