// SoakCall: one Generate stream of a soak run, driven by gRPC's callback API (a
// ClientReadReactor), with no thread of its own. It fills a SoakObservation: messages and tokens
// received, the message protocol (finish_reason/usage only on the last message, request id
// echoed), how many terminal statuses arrived, and it cancels itself after the plan's
// cancel_after_tokens received tokens (unless the final message has already arrived).
//
// Lifetime: Create, then Begin. Reference-counted: OnDone hands the observation to the
// SoakCallObserver, then drops the call's own reference; the call is deleted with the last one.
// The observer takes extra references (Ref, while it knows the call is alive) to Abort it from
// another thread. The plan, stub and observer must outlive the call.
//
// Threads: callbacks run on gRPC's threads, one at a time per call, but consecutive ones may run on
// different threads, ordered inside libgrpc where TSan cannot see it; so seen_ is also guarded by
// mu_ (uncontended). Ref, Unref and Abort are safe from any thread; Abort may run callbacks inline, so call it holding no lock the observer takes.
#ifndef KVSERVE_TESTS_SOAK_SOAK_CALL_H_
#define KVSERVE_TESTS_SOAK_SOAK_CALL_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "tests/soak/soak_check.h"
#include "tests/soak/soak_plan.h"

namespace kvserve::soak {

class SoakCall;

class SoakCallObserver {
 public:
  virtual ~SoakCallObserver() = default;
  // The call ended (once per terminal status). After this returns the call drops its own
  // reference, so the observer must forget `call` before returning.
  virtual void OnSoakCallDone(SoakCall* call, const SoakObservation& seen) = 0;
};

class SoakCall final : public grpc::ClientReadReactor<kvserve::v1::GenerateResponse> {
 public:
  static SoakCall* Create(const SoakPlan* plan, SoakCallObserver* observer) {
    return new SoakCall(plan, observer);
  }
  // Starts the stream on `stub`; the deadline, if the plan has one, starts now.
  void Begin(kvserve::v1::Generation::Stub* stub);
  // Cancels the stream (a stuck one at the end of the run).
  void Abort() {
    aborted_.store(true, std::memory_order_relaxed);
    context_.TryCancel();
  }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  const SoakPlan& plan() const { return *plan_; }

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  SoakCall(const SoakPlan* plan, SoakCallObserver* observer) : plan_(plan), observer_(observer) {}

  const SoakPlan* const plan_;
  SoakCallObserver* const observer_;
  grpc::ClientContext context_;
  kvserve::v1::GenerateResponse response_;
  absl::Mutex mu_;
  SoakObservation seen_ ABSL_GUARDED_BY(mu_);
  std::atomic<int> refs_{1};   // the call's own, dropped in OnDone
  std::atomic<bool> aborted_{false};  // set by Abort from any thread
};

}  // namespace kvserve::soak

#endif  // KVSERVE_TESTS_SOAK_SOAK_CALL_H_
