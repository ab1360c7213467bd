// HttpStream: one OpenAI generation request on the HTTP front end, from its Submit to the end of
// its reply (http_front_end.h creates them).
//
// What a request does:
//   1. Start(): submits the GenerationParams to the scheduler with a TokenSink. A refusal
//      (INVALID_ARGUMENT naming the field, RESOURCE_EXHAUSTED with a full queue, UNAVAILABLE while
//      draining) is returned; the caller replies with the error and drops the stream. Accepted and
//      streaming, the reply starts at once: 200, text/event-stream, and for chat each choice's
//      role chunk.
//   2. The sink runs on the scheduler thread and never blocks or touches libevent: it copies each
//      token into a mutex-guarded pending list, and the first push since the last Flush() asks the
//      loop thread (via `notify`) to flush this stream.
//   3. Flush() (loop thread): streaming, every pending token becomes one SSE chunk, all in one
//      write; not streaming, they are added to the reply being built. After the terminal call:
//      OK ends with the usage chunk (stream_options.include_usage) and `data: [DONE]`, or the JSON
//      body with usage; an error mid-stream is one `data: {"error": ...}` event then `[DONE]`
//      (what vLLM sends), before any byte it is the error reply with its HTTP status.
//   4. The client going away (the connection's close callback, or EOF seen by the read watcher
//      while the request runs) cancels the scheduler request at once: its pages are freed at the
//      scheduler's next step, and the stream ends after the terminal call, as on gRPC. A client
//      that stops reading while more than `max_buffered_bytes` of its reply wait in the output
//      buffer is cancelled the same way (its connection is then closed by the write timeout).
//
// Invariants: exactly one reply end per accepted request, after the scheduler's terminal call;
// nothing is written after it; the libevent request is touched only on the loop thread and never
// after the reply ended (libevent then owns or frees it).
//
// Ownership and threads: shared by the front end's live set (loop thread, until Flush() returns
// true) and the sink (scheduler thread, until its terminal call). Everything but the pending list,
// the terminal status and the cancel handle belongs to the loop thread.
#ifndef KVSERVE_SERVER_OPENAI_HTTP_STREAM_H_
#define KVSERVE_SERVER_OPENAI_HTTP_STREAM_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "engine/sched/scheduler.h"
#include "engine/sched/token_sink.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/openai/openai_response.h"

struct evhttp_request;
struct event;

namespace kvserve::openai {

class HttpStream : public std::enable_shared_from_this<HttpStream> {
 public:
  // Asks the loop thread to Flush() this stream soon. Called from the scheduler thread.
  using Notify = std::function<void(std::shared_ptr<HttpStream>)>;

  struct Options {
    ResponseHeader header;
    int32_t num_choices = 1;
    bool stream = false;
    bool include_usage = false;
    size_t max_buffered_bytes = 8 << 20;
  };

  HttpStream(evhttp_request* request, Options options, std::shared_ptr<const Tokenizer> tokenizer,
             Notify notify);
  ~HttpStream();
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  // Loop thread. See 1. On an error nothing was sent and the request is still the caller's.
  absl::Status Start(Scheduler* scheduler, GenerationParams params);
  // Loop thread. See 3. True once the reply has ended (the stream may then be dropped).
  bool Flush();
  // Loop thread: the connection is gone (libevent's close callback; the request is detached from
  // it). Cancels the scheduler request.
  void OnConnectionClosed();
  // Claims the flush request made by the sink; false if one is already queued. Any thread.
  bool ClaimNotify() { return !notify_queued_.exchange(true, std::memory_order_acq_rel); }
  void ReleaseNotify() { notify_queued_.store(false, std::memory_order_release); }

 private:
  class Sink;
  static void OnReadable(int fd, short what, void* arg);

  // From the sink (scheduler thread).
  void Push(const SampleOutput& output);
  void End(absl::Status status, const Usage& usage);
  void Cancel();
  // Loop thread: stops watching the socket and detaches the close callback.
  void Detach();
  // Loop thread: whether the connection is gone (latched).
  bool ConnectionGone();
  void WriteChunk(const std::string& bytes);
  // Loop thread: the reply's end (the chunked reply's, or the whole JSON body / error).
  void EndReply(const absl::Status& status, const Usage& usage);

  evhttp_request* const request_;  // loop thread; see the invariants
  const Options options_;
  const std::shared_ptr<const Tokenizer> tokenizer_;
  const Notify notify_;
  std::atomic<bool> notify_queued_{false};

  // Loop thread.
  event* read_watcher_ = nullptr;
  bool reply_ended_ = false;
  bool connection_gone_ = false;
  bool write_stalled_ = false;
  std::optional<Completion> completion_;  // not streaming

  absl::Mutex mu_;
  std::shared_ptr<RequestHandle> handle_ ABSL_GUARDED_BY(mu_);
  bool cancel_requested_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<TokenEvent> pending_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  Usage usage_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kvserve::openai

#endif  // KVSERVE_SERVER_OPENAI_HTTP_STREAM_H_
