// GenerateCall: one kvserve.v1.Generation/Generate stream driven by gRPC's callback API (a
// ClientReadReactor), with no thread of its own: the one client-side stream that kvload, kvsoak,
// kvctl and the tests' RunGenerate share. It records what each of them measures into a
// GenerateRecord (every message's arrival time, sample and token count; per sample its tokens,
// finish and stop reason, and optionally its text, ids and logprobs; the final message's fields;
// breaches of the message protocol; the status) and can cancel itself after a number of tokens.
//
// A request with n > 1 streams n samples over one call: every message names its sample
// (`index`, in [0, n)), each sample's last message has its finish_reason, and only the stream's
// last message (the one that finishes the last sample) has usage.
//
// Lifetime: Create() builds it, not yet started, so that the caller can list it as live before any
// callback can run; Start() starts it. It is reference-counted: when the stream is over, OnDone
// hands the record to the observer's OnCallDone and then drops the call's own reference, which
// deletes it unless someone took another with Ref() (e.g. to Abort it from another thread); the
// observer's OnCallDeleted follows the deletion. The observer must outlive the call.
//
// Threads: the callbacks (and so the observer's methods) run on gRPC's callback threads, one at a
// time for one call, but consecutive ones may run on different threads; gRPC orders them inside
// libgrpc, which TSan cannot see (it is not instrumented), so the record is also guarded by mu_
// (uncontended: one lock per message). The observer is called without mu_ held, and what it keeps
// between one call's callbacks needs its own lock or atomics for the same reason. Ref, Unref,
// Abort and tag() are safe from any thread. Abort may run gRPC callbacks inline (any call's), so
// call it holding no lock that the observer's methods take.
//
// RunGenerateCall is the blocking form: one call on the calling thread's behalf, to its end.
#ifndef KVSERVE_CLIENTS_GENERATE_CALL_H_
#define KVSERVE_CLIENTS_GENERATE_CALL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve {

struct GenerateCallOptions {
  // The call's deadline, from Start(); 0 = none.
  int64_t deadline_ms = 0;
  // > 0: the call cancels itself once this many tokens have arrived, unless the message that
  // finishes the stream has arrived too (a cancel then would only race its OK status). <= 0: never.
  int32_t cancel_after_tokens = 0;
  // Keep every response in full (GenerateRecord::responses), as tests want; otherwise only the
  // counts and times, as a load generator with thousands of streams wants.
  bool keep_responses = false;
  // Gather each sample's text, token ids and logprobs (SampleRecord's output fields, and the
  // prompt logprobs), as kvctl wants; off, a sample keeps only its counts and finish.
  bool keep_output = false;
  // The caller's number for the call (e.g. its request index); the call only hands it back.
  int64_t tag = 0;
};

// One message of a stream.
struct MessageArrival {
  double t_s = 0;  // arrival, in seconds from the call's start
  int32_t tokens = 0;
  int32_t index = 0;  // its sample
};

// What one sample (GenerateResponse::index) of a stream delivered.
struct SampleRecord {
  int64_t tokens = 0;         // token ids received for it
  int32_t finish_reason = 0;  // v1::FinishReason of its finishing message; 0 = not finished
  // With finish_reason STOP, what stopped it (from the finishing message): a stop string, or a
  // token id (EOS or one of stop_token_ids); neither if the server named none.
  bool has_stop_string = false;
  std::string stop_string;
  int32_t stop_token_id = -1;  // -1: none
  // With keep_output only: everything it produced, in order.
  std::string text;
  std::vector<int32_t> token_ids;
  std::vector<v1::TokenLogprob> logprobs;
};

// What one stream delivered. Times are on the steady clock, from `start`.
struct GenerateRecord {
  std::chrono::steady_clock::time_point start;  // Start(): the request's clock starts here
  double end_s = 0;                             // the terminal status (the e2e latency)
  std::vector<MessageArrival> messages;         // every message, token-less ones too, in order
  std::vector<v1::GenerateResponse> responses;  // with keep_responses only: every message
  int64_t tokens = 0;                           // token ids received, over all messages/samples
  // One per sample the request asked for (max(1, n), at most kMaxRecordedSamples), by index.
  static constexpr int32_t kMaxRecordedSamples = 256;
  std::vector<SampleRecord> samples;
  // With keep_output: the prompt logprobs (from whichever messages carried them).
  std::vector<v1::TokenLogprob> prompt_logprobs;

  // The final message's fields.
  int32_t finish_reason = 0;  // v1::FinishReason of the (last) message that carried one; 0 = none
  bool has_usage = false;     // some message carried usage (the last such is in `usage`)
  v1::Usage usage;

  // Breaches of the message protocol: each sample's messages end with the one that has its
  // finish_reason; the stream's last message, and only it, finishes the last unfinished sample
  // and carries usage; every message names a sample of the request and echoes the request id.
  bool message_after_final = false;  // a message of a finished sample, or after the usage
  bool final_fields_split = false;   // the last sample finished without usage, or usage came on a
                                     // message that did not finish the last sample
  bool request_id_mismatch = false;  // some message's request_id differed from the request's
  bool index_out_of_range = false;   // some message's index was outside [0, n)

  // How it ended.
  bool cancel_sent = false;  // the call cancelled itself (cancel_after_tokens, or OnResponse)
  bool aborted = false;      // Abort() was called before the status arrived
  grpc::Status status;

  // The arrival of the first message that carried tokens, from `start`; -1 if none did.
  double FirstTokenSeconds() const;
  // Every sample has its finish_reason.
  bool AllSamplesFinished() const;
};

// Adds one message to its sample's record (the caller picks the sample by response.index()):
// tokens, the finish and stop reason, and with `keep_output` the text, ids and logprobs. True if
// the message finished a sample that had not finished before.
bool AppendToSample(const v1::GenerateResponse& response, bool keep_output, SampleRecord* sample);

class GenerateCall;

// Told about one call's messages and its end; called on gRPC callback threads (see the top).
class GenerateCallObserver {
 public:
  virtual ~GenerateCallObserver() = default;
  // `response` arrived and is recorded. Return false to cancel the call; messages already on their
  // way still come here until the status does. The default keeps going.
  virtual bool OnResponse(GenerateCall& /*call*/, const v1::GenerateResponse& /*response*/) {
    return true;
  }
  // The stream is over and `record` is final. After this returns the call drops its own
  // reference (see Ref), so the observer must forget `call` (e.g. drop it from its live set)
  // before returning.
  virtual void OnCallDone(GenerateCall& call, GenerateRecord record) = 0;
  // The call is deleted, its ClientContext with it, on whichever thread dropped the last
  // reference; the call touches nothing after this. Wait for it before tearing down what gRPC
  // may still use while a ClientContext is destroyed (e.g. before returning from main). The
  // default does nothing.
  virtual void OnCallDeleted() {}
};

class GenerateCall final : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  // Builds the call, not yet started. `observer` must outlive it.
  static GenerateCall* Create(v1::GenerateRequest request, const GenerateCallOptions& options,
                              GenerateCallObserver* observer);
  // Starts the stream on `stub`; the record's clock and the deadline start here. Once per call.
  void Start(v1::Generation::Stub* stub);

  // Cancels the stream (e.g. at the end of a run): the record says `aborted` unless the status
  // was already in. Requires a reference (the call's own before OnCallDone, or one from Ref()).
  void Abort();

  // Takes a reference; only while the call is known to be alive (e.g. the observer lists it as
  // live and OnCallDone has not removed it).
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Drops a reference, deleting the call with the last one (then OnCallDeleted).
  void Unref();

  int64_t tag() const { return tag_; }
  const v1::GenerateRequest& request() const { return request_; }

  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  GenerateCall(v1::GenerateRequest request, const GenerateCallOptions& options,
               GenerateCallObserver* observer);

  // Records response_; true if the call should now cancel itself (cancel_after_tokens).
  bool RecordLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double SinceStartLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const v1::GenerateRequest request_;
  const GenerateCallOptions options_;
  const int64_t tag_;
  GenerateCallObserver* const observer_;
  grpc::ClientContext context_;
  v1::GenerateResponse response_;  // the read in flight; touched only by the callbacks
  absl::Mutex mu_;
  GenerateRecord record_ ABSL_GUARDED_BY(mu_);
  int32_t unfinished_samples_ ABSL_GUARDED_BY(mu_) = 0;  // samples without their finish yet
  std::atomic<bool> aborted_{false};                     // set by Abort from any thread
  std::atomic<int> refs_{1};                             // the call's own, dropped in OnDone
};

// Called for each message of a RunGenerateCall, with its index from 0; return false to cancel.
using ResponseCallback = std::function<bool(const v1::GenerateResponse&, int index)>;

// Runs one call on `stub` to its end and returns its record, blocking the calling thread until the
// call is deleted (so the caller may then destroy the stub's channel, or exit).
// `on_response` (may be empty) runs on a gRPC callback thread, one message at a time; blocking in
// it holds the next read back, as a slow reader does.
GenerateRecord RunGenerateCall(v1::Generation::Stub& stub, v1::GenerateRequest request,
                               const GenerateCallOptions& options,
                               const ResponseCallback& on_response = nullptr);

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_GENERATE_CALL_H_
