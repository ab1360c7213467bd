// TokenSink and RequestHandle: the two hand-offs between a request's submitter (a gRPC reactor)
// and the scheduler thread.
//
// TokenSink: the scheduler pushes a request's output into it, on the scheduler thread, in order:
// any number of OnOutput calls (one per generated token of any sample; each sample's last has its
// finish reason set), then exactly one terminal call, OnFinish (every sample ended normally) or
// OnError (the request did not: no further sample output). Nothing is called after the terminal
// call. Implementations must return quickly and never block on the network: the whole batch
// waits on them. Views inside a SampleOutput are valid only during the call.
//
// RequestHandle: the submitter's side. Cancel() may be called from any thread at any time (client
// cancel, deadline, server shutdown); the scheduler sees it at its next step, removes the request
// from the batch, frees its pages, and makes the sink's terminal call OnError(CANCELLED).
#ifndef KVSERVE_ENGINE_SCHED_TOKEN_SINK_H_
#define KVSERVE_ENGINE_SCHED_TOKEN_SINK_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/sched/finish_reason.h"
#include "engine/sched/logprobs.h"

namespace kvserve {

struct Usage {
  int32_t prompt_tokens = 0;      // once, whatever the number of samples
  int32_t completion_tokens = 0;  // every sample's tokens
  int32_t cached_prompt_tokens = 0;
};

// One generated token of one sample.
struct SampleOutput {
  int32_t index = 0;  // the sample, in [0, n)
  int32_t token = 0;
  // The text this token decided (output_text.h): possibly empty (held back, or a token without
  // text such as EOS), possibly more than the token's own (held-back text released).
  std::string_view text;
  FinishReason finish = FinishReason::kNone;  // set on the sample's last token
  // With finish == kStop: the EOS / stop id that ended it, or the index of the stop string
  // (GenerationParams::stop_strings) whose text completed; -1 for the other.
  int32_t stop_token_id = -1;
  int32_t stop_string = -1;
  // With the request's `logprobs`: this token's (logprobs.h); else null.
  const TokenLogprobs* logprobs = nullptr;
  // With `prompt_logprobs`, on sample 0's first output: one entry per prompt token after the
  // first; else empty.
  absl::Span<const TokenLogprobs> prompt_logprobs;
};

class TokenSink {
 public:
  virtual ~TokenSink() = default;
  virtual void OnOutput(const SampleOutput& output) = 0;
  virtual void OnFinish(const Usage& usage) = 0;
  virtual void OnError(const absl::Status& status) = 0;
};

class RequestHandle {
 public:
  explicit RequestHandle(std::shared_ptr<std::atomic<int64_t>> cancel_epoch)
      : cancel_epoch_(std::move(cancel_epoch)) {}
  void Cancel() {
    if (!cancelled_.exchange(true, std::memory_order_acq_rel)) {
      cancel_epoch_->fetch_add(1, std::memory_order_release);
    }
  }
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> cancelled_{false};
  // Shared with the scheduler (and outliving it if need be): lets it skip sweeps when nothing
  // changed.
  std::shared_ptr<std::atomic<int64_t>> cancel_epoch_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_TOKEN_SINK_H_
