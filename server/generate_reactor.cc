#include "server/generate_reactor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/impl/codegen/proto_utils.h"  // SerializationTraits for protobuf messages
#include "server/metrics.h"
#include "server/proto_convert.h"
#include "server/tokenize_handlers.h"

namespace kvserve {

// The scheduler's side of a stream: forwards into the reactor, which it keeps alive.
class GenerateReactor::Sink final : public TokenSink {
 public:
  explicit Sink(std::shared_ptr<GenerateReactor> reactor) : reactor_(std::move(reactor)) {}

  void OnOutput(const SampleOutput& output) override { reactor_->AddOutput(output); }
  void OnFinish(const Usage& usage) override { reactor_->EndWithFinish(usage); }
  void OnError(const absl::Status& status) override { reactor_->EndWithError(status); }

 private:
  const std::shared_ptr<GenerateReactor> reactor_;
};

GenerateReactor::GenerateReactor(grpc::CallbackServerContext* context, std::string request_id,
                                 std::shared_ptr<const Tokenizer> tokenizer,
                                 LiveStreams* live_streams)
    : request_id_(std::move(request_id)),
      tokenizer_(std::move(tokenizer)),
      context_(context),
      live_streams_(live_streams) {}

GenerateReactor* GenerateReactor::Start(grpc::CallbackServerContext* context,
                                        absl::StatusOr<GenerationParams> params,
                                        std::string request_id, Scheduler* scheduler,
                                        std::shared_ptr<const Tokenizer> tokenizer,
                                        LiveStreams* live_streams, Metrics* metrics) {
  std::shared_ptr<GenerateReactor> reactor(
      new GenerateReactor(context, std::move(request_id), std::move(tokenizer), live_streams));
  reactor->self_ = reactor;
  GenerateReactor* raw = reactor.get();

  absl::Status status = params.status();
  if (status.ok()) {
    const StreamLimits& limits = live_streams->limits();
    switch (live_streams->Add(reactor, PeerAddress(context->peer()))) {
      case LiveStreams::AddResult::kAdded:
        break;
      case LiveStreams::AddResult::kServerFull:
        status = absl::ResourceExhaustedError(
            absl::StrCat("the server has ", limits.max_live_streams,
                         " live Generate streams, its max_live_streams; retry later"));
        break;
      case LiveStreams::AddResult::kPeerFull:
        status = absl::ResourceExhaustedError(absl::StrCat(
            "your address has ", limits.max_live_streams_per_peer,
            " live Generate streams, the server's max_live_streams_per_peer; retry later"));
        break;
    }
  }
  absl::StatusOr<std::shared_ptr<RequestHandle>> handle =
      status.ok() ? absl::StatusOr<std::shared_ptr<RequestHandle>>(nullptr)
                  : absl::StatusOr<std::shared_ptr<RequestHandle>>(status);
  if (status.ok()) {
    raw->stop_strings_ = params->stop_strings;
    {
      absl::MutexLock lock(&raw->mu_);
      raw->samples_.resize(std::clamp(params->n, 1, kMaxSamples));
      raw->unfinished_samples_ = static_cast<int32_t>(raw->samples_.size());
    }
    handle = scheduler->Submit(*std::move(params), std::make_shared<Sink>(reactor),
                               FromGrpcDeadline(context->deadline()));
  }
  if (!handle.ok()) {
    if (metrics != nullptr) metrics->OnRequestRejected(handle.status().code());
    {
      absl::MutexLock lock(&raw->mu_);
      raw->finish_called_ = true;
    }
    raw->Finish(ToGrpcStatus(handle.status()));
    return raw;
  }
  bool cancel_now = false;
  {
    absl::MutexLock lock(&raw->mu_);
    raw->handle_ = *handle;
    cancel_now = raw->cancelled_;  // OnCancel came before the handle existed
  }
  if (cancel_now) (*handle)->Cancel();
  return raw;
}

void GenerateReactor::AddOutput(const SampleOutput& output) {
  {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return;  // nobody will read them
    if (output.index < 0 || static_cast<size_t>(output.index) >= samples_.size()) return;
    PendingSample& sample = samples_[output.index];
    sample.tokens.push_back(output.token);
    if (output.logprobs != nullptr) {
      ToProto(*tokenizer_, *output.logprobs, &sample.logprobs.emplace_back());
    }
    for (const TokenLogprobs& entry : output.prompt_logprobs) {
      ToProto(*tokenizer_, entry, &prompt_logprobs_.emplace_back());
    }
    sample.text.append(output.text);
    if (output.finish != FinishReason::kNone) {
      sample.finish = output.finish;
      sample.stop_token_id = output.stop_token_id;
      sample.stop_string = output.stop_string;
    }
  }
  Pump();
}

void GenerateReactor::EndWithFinish(const Usage& usage) {
  {
    absl::MutexLock lock(&mu_);
    terminal_ = Terminal::kFinished;
    usage_ = usage;
  }
  Pump();
}

void GenerateReactor::EndWithError(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    terminal_ = Terminal::kFailed;
    error_ = status.ok() ? absl::InternalError("request failed without a status") : status;
  }
  Pump();
}

void GenerateReactor::OnWriteDone(bool ok) {
  std::shared_ptr<RequestHandle> cancel;
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    write_started_ = absl::InfiniteFuture();
    if (!ok && !cancelled_) {
      // The stream is broken (the client went away): stop generating for it.
      cancelled_ = true;
      cancel = handle_;
    }
  }
  if (cancel != nullptr) cancel->Cancel();
  Pump();
}

void GenerateReactor::OnCancel() {
  std::shared_ptr<RequestHandle> cancel;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    cancel = handle_;  // null if Start() has not stored it yet; Start() then cancels
  }
  if (cancel != nullptr) cancel->Cancel();
  Pump();
}

void GenerateReactor::OnDone() {
  {
    std::lock_guard<std::recursive_mutex> lock(cancel_mu_);
    done_ = true;  // from here on the context may go away: CancelStalled must not touch it
  }
  live_streams_->Remove(this);
  // gRPC is done with this reactor. The sink may still hold it (if the scheduler has not yet
  // dropped its request), in which case the last of the two references destroys it.
  std::shared_ptr<GenerateReactor> self = std::move(self_);
}

absl::Time GenerateReactor::write_started() const {
  absl::MutexLock lock(&mu_);
  return write_started_;
}

void GenerateReactor::CancelStalled() {
  std::lock_guard<std::recursive_mutex> lock(cancel_mu_);
  // OnCancel follows (maybe inline): the scheduler request is cancelled and the stuck write fails.
  if (!done_) context_->TryCancel();
}

void GenerateReactor::Pump() {
  grpc::Status status;
  Action action;
  {
    absl::MutexLock lock(&mu_);
    action = NextActionLocked(&status);
  }
  switch (action) {
    case Action::kNone:
      break;
    case Action::kWrite:
      StartWrite(&response_bytes_);
      break;
    case Action::kWriteAndFinish:
      StartWriteAndFinish(&response_bytes_, grpc::WriteOptions(), grpc::Status::OK);
      break;
    case Action::kFinish:
      Finish(status);
      break;
  }
}

GenerateReactor::Action GenerateReactor::NextActionLocked(grpc::Status* status) {
  if (finish_called_ || write_in_flight_) return Action::kNone;
  if (terminal_ == Terminal::kFailed) {
    finish_called_ = true;
    *status = ToGrpcStatus(error_);
    return Action::kFinish;
  }
  if (cancelled_) {
    // Wait for the scheduler's terminal call (it frees the request's pages) before finishing.
    if (terminal_ == Terminal::kNone) return Action::kNone;
    finish_called_ = true;
    *status = grpc::Status(grpc::StatusCode::CANCELLED, "request cancelled");
    return Action::kFinish;
  }
  const int32_t n = static_cast<int32_t>(samples_.size());
  for (int32_t k = 0; k < n; ++k) {
    const int32_t i = (next_sample_ + k) % n;
    PendingSample& sample = samples_[i];
    if (sample.finish_written) continue;
    const bool finishing = sample.finish != FinishReason::kNone;
    if (sample.tokens.empty() && !finishing) continue;
    if (finishing && unfinished_samples_ == 1) {
      // The stream's last message: it carries the usage, which comes with OnFinish.
      if (terminal_ != Terminal::kFinished) continue;
      FillResponseLocked(i, /*last=*/true);
      finish_called_ = true;
      write_started_ = absl::Now();
      return Action::kWriteAndFinish;
    }
    FillResponseLocked(i, /*last=*/false);
    if (finishing) {
      sample.finish_written = true;
      --unfinished_samples_;
    }
    next_sample_ = (i + 1) % n;
    write_in_flight_ = true;
    write_started_ = absl::Now();
    return Action::kWrite;
  }
  return Action::kNone;
}

void GenerateReactor::FillResponseLocked(int32_t index, bool last) {
  PendingSample& sample = samples_[index];
  response_.Clear();
  response_.set_request_id(request_id_);
  response_.set_index(index);
  response_.mutable_token_ids()->Add(sample.tokens.begin(), sample.tokens.end());
  response_.set_text(std::move(sample.text));
  for (v1::TokenLogprob& lp : sample.logprobs) *response_.add_logprobs() = std::move(lp);
  for (v1::TokenLogprob& lp : prompt_logprobs_) *response_.add_prompt_logprobs() = std::move(lp);
  sample.tokens.clear();
  sample.text.clear();
  sample.logprobs.clear();
  prompt_logprobs_.clear();
  if (sample.finish != FinishReason::kNone) {
    response_.set_finish_reason(ToProto(sample.finish));
    if (sample.stop_string >= 0 && static_cast<size_t>(sample.stop_string) < stop_strings_.size()) {
      response_.set_stop_string(stop_strings_[sample.stop_string]);
    } else if (sample.stop_token_id >= 0) {
      response_.set_stop_token_id(sample.stop_token_id);
    }
  }
  if (last) ToProto(usage_, response_.mutable_usage());
  response_bytes_.Clear();  // the writer refuses a buffer that still holds the previous message
  bool own_buffer = false;
  // Serializing a message of ints and valid UTF-8 (the scheduler's text) cannot fail.
  (void)grpc::SerializationTraits<v1::GenerateResponse>::Serialize(response_, &response_bytes_,
                                                                   &own_buffer);
}

}  // namespace kvserve
