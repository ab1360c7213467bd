// GenerateReactor: one Generate stream, driven by gRPC's callback API (no thread per stream).
//
// What a stream does:
//   1. Start(): the request becomes GenerationParams and is submitted to the Scheduler with a
//      TokenSink and the call's deadline. A refusal (UNAUTHENTICATED, INVALID_ARGUMENT naming the
//      field, RESOURCE_EXHAUSTED, UNAVAILABLE) is counted in the metrics (if any) and ends the
//      stream at once with that status, before any message.
//   2. The sink runs on the scheduler thread and never blocks: new tokens go into a
//      mutex-protected pending buffer and, if no write is in flight, a write starts. Tokens that
//      arrive while a write is in flight are coalesced into the next message, so there is at most
//      one write in flight and a slow reader never stalls the batch.
//   3. OnFinish: once every pending token is written, a last message (possibly with the last
//      tokens) carries finish_reason and usage, then the stream ends OK. OnError ends the stream
//      with the scheduler's status (CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE, INTERNAL).
//   4. OnCancel (client cancel, deadline passed, server shutdown) cancels the scheduler request;
//      the stream ends after the scheduler's terminal call.
//   5. The stream holds one of the server's live-stream slots (live_streams.h) from Start to
//      OnDone; with none free it is refused with RESOURCE_EXHAUSTED. A write that the client does
//      not read for the write timeout gets the call cancelled (CancelStalled), as in 4.
//
// Invariants: exactly one Finish per stream, called only after the scheduler's terminal call (or
// a refused Submit) and with no write in flight; only the last message of an OK stream has
// finish_reason and usage; every message echoes request_id.
//
// Ownership and threads: the reactor is shared (std::shared_ptr) by gRPC — a self-reference
// dropped in OnDone — and by the sink the scheduler holds until after its terminal call. It is
// destroyed when both are gone, so neither side can see it dangle. gRPC callbacks and the sink may
// run concurrently on different threads; all mutable state is guarded by mu_, and gRPC operations
// are started outside mu_. CancelStalled runs on the LiveStreams watchdog thread; cancel_mu_
// keeps it from touching the call once OnDone has run (it is recursive because TryCancel may run
// OnDone inline on the same thread).
#ifndef KVSERVE_SERVER_GENERATE_REACTOR_H_
#define KVSERVE_SERVER_GENERATE_REACTOR_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "engine/sched/finish_reason.h"
#include "engine/sched/scheduler.h"
#include "engine/sched/token_sink.h"
#include "engine/tokenizer/tokenizer.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.pb.h"
#include "server/live_streams.h"

namespace kvserve {

class Metrics;

class GenerateReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                              public LiveStreams::Stream {
 public:
  // Creates the reactor for one call and starts it: submits `params` to `scheduler`, or, if
  // `params` is an error (the request was refused before: e.g. the server is draining) or
  // `live_streams` has no free slot, ends the call with that status. `request_id` is the id
  // echoed in every message. `metrics` (may be null) counts a refusal. Returns the reactor for the
  // service method to return; gRPC's reference to it lasts until OnDone.
  static GenerateReactor* Start(grpc::CallbackServerContext* context,
                                absl::StatusOr<GenerationParams> params, std::string request_id,
                                Scheduler* scheduler, std::shared_ptr<const Tokenizer> tokenizer,
                                LiveStreams* live_streams, Metrics* metrics = nullptr);

  GenerateReactor(const GenerateReactor&) = delete;
  GenerateReactor& operator=(const GenerateReactor&) = delete;
  ~GenerateReactor() override = default;

  // grpc::ServerWriteReactor (gRPC threads).
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // LiveStreams::Stream (the watchdog thread).
  absl::Time write_started() const override;
  void CancelStalled() override;

 private:
  class Sink;
  enum class Terminal : int8_t { kNone, kFinished, kFailed };
  enum class Action : int8_t { kNone, kWrite, kWriteAndFinish, kFinish };

  GenerateReactor(grpc::CallbackServerContext* context, std::string request_id,
                  std::shared_ptr<const Tokenizer> tokenizer, LiveStreams* live_streams);

  // What one sample has produced that is not yet in a message.
  struct PendingSample {
    std::vector<int32_t> tokens;
    std::string text;
    FinishReason finish = FinishReason::kNone;  // its last token came
    int32_t stop_token_id = -1;
    int32_t stop_string = -1;
    bool finish_written = false;             // its last message was written
    std::vector<v1::TokenLogprob> logprobs;  // one per token, when asked for
  };

  // From the sink (scheduler thread).
  void AddOutput(const SampleOutput& output);
  void EndWithFinish(const Usage& usage);
  void EndWithError(const absl::Status& status);

  // Starts the next write or the Finish, if one is due. Any thread; never under mu_.
  void Pump();
  // Decides the next gRPC operation; fills response_ for a write and marks it in flight. Samples
  // take turns; the last sample's finishing message waits for OnFinish, so that the stream's last
  // message carries the usage.
  Action NextActionLocked(grpc::Status* status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves sample `index`'s pending tokens and text into response_ (with the usage if `last`).
  void FillResponseLocked(int32_t index, bool last) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string request_id_;
  // The text of logprob entries (the scheduler decodes the output itself: SampleOutput::text).
  const std::shared_ptr<const Tokenizer> tokenizer_;
  std::shared_ptr<GenerateReactor> self_;       // gRPC's reference; reset in OnDone
  grpc::CallbackServerContext* const context_;  // valid until OnDone returns
  LiveStreams* const live_streams_;             // holds this stream's slot until OnDone

  std::recursive_mutex cancel_mu_;
  bool done_ = false;  // OnDone has run; guarded by cancel_mu_

  mutable absl::Mutex mu_;
  std::shared_ptr<RequestHandle> handle_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;  // OnCancel seen or a write failed
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // When the write in flight (StartWrite, or the last StartWriteAndFinish) started.
  absl::Time write_started_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::string> stop_strings_;  // the request's, set before it is submitted
  std::vector<PendingSample> samples_ ABSL_GUARDED_BY(mu_);  // one per sample (n)
  // With prompt_logprobs: sent on the stream's first message.
  std::vector<v1::TokenLogprob> prompt_logprobs_ ABSL_GUARDED_BY(mu_);
  int32_t unfinished_samples_ ABSL_GUARDED_BY(mu_) = 0;  // samples whose last message is unwritten
  int32_t next_sample_ ABSL_GUARDED_BY(mu_) = 0;         // whose turn to be written is next
  Terminal terminal_ ABSL_GUARDED_BY(mu_) = Terminal::kNone;
  Usage usage_ ABSL_GUARDED_BY(mu_);
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  // The message being written and its serialized bytes (the method is raw, see
  // generation_service.h). Filled under mu_ by the thread that claims the write, then read by gRPC
  // until OnWriteDone; nobody else touches them meanwhile.
  v1::GenerateResponse response_;
  grpc::ByteBuffer response_bytes_;
};

}  // namespace kvserve

#endif  // KVSERVE_SERVER_GENERATE_REACTOR_H_
