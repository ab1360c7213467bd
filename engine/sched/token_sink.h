// TokenSink and RequestHandle: the two hand-offs between a request's submitter (a gRPC reactor)
// and the scheduler thread.
//
// TokenSink: the scheduler pushes a request's output into it, on the scheduler thread, in order:
// any number of OnTokens calls, then exactly one terminal call, OnFinish (the request ended
// normally) or OnError (it did not). Nothing is called after the terminal call. Implementations
// must return quickly and never block on the network: the whole batch waits on them.
//
// RequestHandle: the submitter's side. Cancel() may be called from any thread at any time (client
// cancel, deadline, server shutdown); the scheduler sees it at its next step, removes the request
// from the batch, frees its pages, and makes the sink's terminal call OnError(CANCELLED).
#ifndef KVSERVE_ENGINE_SCHED_TOKEN_SINK_H_
#define KVSERVE_ENGINE_SCHED_TOKEN_SINK_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/sched/finish_reason.h"

namespace kvserve {

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  int32_t cached_prompt_tokens = 0;
};

class TokenSink {
 public:
  virtual ~TokenSink() = default;
  virtual void OnTokens(absl::Span<const int32_t> tokens) = 0;
  virtual void OnFinish(FinishReason reason, const Usage& usage) = 0;
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
