// GenerateCall: one Generate stream driven by gRPC's callback API (a ClientReadReactor), with no
// thread of its own. It records what the load generator measures: the arrival time and token
// count of every token-carrying message, the final status and usage, and cancels itself after a
// planned number of tokens (RequestPlan::cancel_after_tokens).
//
// Lifetime: created by Create(), started by Begin(). It is reference-counted: OnDone hands the
// RequestRecord to the CallObserver and drops the call's own reference, which deletes it unless
// someone took another with Ref() (e.g. to Abort it from another thread). The observer, the stub's
// channel and `clock_zero` must outlive it.
//
// Threads: its callbacks run on gRPC's callback threads, one at a time for one call, but
// consecutive ones may run on different threads; gRPC orders them inside libgrpc, which TSan cannot
// see (it is not instrumented), so the recorded state is also guarded by mu_ (uncontended: one
// lock per message). Per-message work is a clock read, a push_back and one relaxed atomic add.
// Ref, Unref and Abort are safe from any thread. Abort may run gRPC callbacks inline (any call's), so call it holding no lock that
// the observer's methods take.
#ifndef KVSERVE_CLIENTS_KVLOAD_STREAM_CLIENT_H_
#define KVSERVE_CLIENTS_KVLOAD_STREAM_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "clients/kvload/run_result.h"
#include "clients/kvload/workload.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve::load {

class GenerateCall;

// Told about every call's progress and end. Methods are called on gRPC callback threads.
class CallObserver {
 public:
  virtual ~CallObserver() = default;
  // A message carrying `tokens` tokens arrived.
  virtual void OnTokens(int64_t tokens) = 0;
  // The call ended; after this returns the call drops its own reference (see Ref), so the
  // observer must forget `call` (e.g. drop it from its live set) before returning.
  virtual void OnCallDone(GenerateCall* call, RequestRecord record) = 0;
};

// Request fields that are the same for every request of a run.
struct CallOptions {
  float temperature = 0;
  bool ignore_eos = true;
  int64_t deadline_ms = 0;  // 0 = no deadline
};

class GenerateCall final : public grpc::ClientReadReactor<kvserve::v1::GenerateResponse> {
 public:
  using Clock = std::chrono::steady_clock;

  // Builds the call for `plan`, not yet started, so the observer can list it as live before any
  // callback can run. `clock_zero` is the run's start; `channel` is remembered (see channel()).
  static GenerateCall* Create(int channel, const RequestPlan& plan, const CallOptions& options,
                              Clock::time_point clock_zero, CallObserver* observer);
  // Starts the stream on `stub` (which must belong to `channel`); the request's clock starts here.
  void Begin(kvserve::v1::Generation::Stub* stub);

  // Cancels the stream (end of run); the record's outcome becomes kAborted unless it ends OK.
  // Requires a reference (the call's own before OnDone, or one from Ref()).
  void Abort();

  // Takes a reference; only while the call is known to be alive (e.g. the observer lists it as
  // live and OnCallDone has not removed it).
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Drops a reference, deleting the call with the last one.
  void Unref();

  int channel() const { return channel_; }

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  GenerateCall(int channel, const RequestPlan& plan, const CallOptions& options,
               Clock::time_point clock_zero, CallObserver* observer);

  double SinceStart() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int channel_;
  CallObserver* const observer_;
  const Clock::time_point clock_zero_;
  const int64_t deadline_ms_;
  grpc::ClientContext context_;
  kvserve::v1::GenerateRequest request_;
  kvserve::v1::GenerateResponse response_;
  absl::Mutex mu_;
  Clock::time_point start_ ABSL_GUARDED_BY(mu_);
  RequestRecord record_ ABSL_GUARDED_BY(mu_);
  bool cancel_sent_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> aborted_{false};  // set by Abort from any thread
  std::atomic<int> refs_{1};          // the call's own, dropped in OnDone
};

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_STREAM_CLIENT_H_
