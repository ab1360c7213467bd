// HttpFrontEnd: the OpenAI-compatible HTTP/1.1 door to the same scheduler as the gRPC service
// (one process, one KV cache, one continuous batch). Built on libevent's evhttp: one event-loop
// thread holds every connection, so thousands of idle or streaming clients cost no threads.
//
//   POST /v1/completions, /v1/chat/completions   openai_request.h → GenerationService::Prepare
//                                                (the gRPC service's admission and validation,
//                                                so both doors refuse with the same message) →
//                                                an HttpStream (http_stream.h)
//   GET  /v1/models                              the served model
//   GET  /health                                 200, or 503 once the server stopped accepting
//   POST /tokenize, /detokenize                  vLLM's bodies and replies
//
// Errors are OpenAI's {"error": {...}} with the status of HttpStatusFor: 400 bad request, 401
// without the bearer token (when `auth` is set; /health needs none), 404 unknown model or path,
// 405 wrong method, 413 a body over max_body_bytes (libevent's own reply), 429 queue full, 503
// draining. A connection idle for `timeout` mid-request (slow-loris headers, a stalled reader) is
// closed by libevent; headers over max_header_bytes get 400.
//
// Lifecycle: Start() binds and starts the loop thread; Stop() (after the scheduler's Shutdown, so
// that every stream has had its terminal call) flushes what is pending, lets the replies go out
// for a moment, and joins the loop.
//
// TLS: with `tls` files set, every connection is TLS (http_tls.h: the gRPC port's certificate,
// key and client CA, so mutual TLS holds on both doors); a plaintext client gets no reply.
//
// Metrics (when `metrics` is set): every reply evhttp completes counts in
// kvserve_http_responses_total{route, status}; generation requests refused before the queue (bad
// request, queue full, draining) count in kvserve_requests_rejected_total{code} as on gRPC; those
// accepted are the scheduler's, in the same request metrics as gRPC's. Replies libevent makes on
// its own (413 for a body over the limit, 400 for oversized headers) are not counted.
//
// Threads: Start(), Stop() and the destructor on one controlling thread; port() anywhere. All of
// libevent — the base, evhttp, every connection and request, the live streams' loop-side state —
// belongs to the loop thread. The scheduler thread only reaches it through the Mailbox (a mutex-
// guarded list of streams to flush and an eventfd that wakes the loop).
#ifndef KVSERVE_SERVER_OPENAI_HTTP_FRONT_END_H_
#define KVSERVE_SERVER_OPENAI_HTTP_FRONT_END_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "security/bearer_token.h"
#include "server/generation_service.h"
#include "server/metrics.h"
#include "server/openai/http_stream.h"
#include "server/openai/http_tls.h"
#include "server/openai/openai_request.h"
#include "server/tls_server_credentials.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct event;

namespace kvserve::openai {

struct HttpFrontEndOptions {
  std::string host = "127.0.0.1";
  int32_t port = 0;  // 0: any free port (see port())
  std::string served_model_name = "kvserve";
  std::shared_ptr<const BearerTokenVerifier> auth;  // nullptr: no token needed
  size_t max_body_bytes = 4 << 20;
  size_t max_header_bytes = 64 << 10;
  absl::Duration timeout = absl::Seconds(30);
  // Reply bytes one client may leave unread before its request is cancelled.
  size_t max_buffered_bytes = 8 << 20;
  ServerTlsFiles tls;          // none: plaintext HTTP
  Metrics* metrics = nullptr;  // not owned; must outlive the front end. nullptr: none
};

class HttpFrontEnd {
 public:
  // INVALID_ARGUMENT for options out of range or TLS files HttpTlsContext refuses (NOT_FOUND for
  // one that cannot be opened); UNAVAILABLE if the address cannot be bound.
  // `service` must outlive the front end.
  static absl::StatusOr<std::unique_ptr<HttpFrontEnd>> Start(const HttpFrontEndOptions& options,
                                                             GenerationService* service);
  HttpFrontEnd(const HttpFrontEnd&) = delete;
  HttpFrontEnd& operator=(const HttpFrontEnd&) = delete;
  ~HttpFrontEnd();  // Stop() unless stopped

  int32_t port() const { return port_; }
  // See the file comment. Idempotent.
  void Stop(absl::Duration grace = absl::Milliseconds(500));

 private:
  struct Mailbox;
  HttpFrontEnd(const HttpFrontEndOptions& options, GenerationService* service);

  static void OnRequest(evhttp_request* request, void* arg);
  static void OnReplyComplete(evhttp_request* request, void* arg);
  static void OnWake(int fd, short what, void* arg);
  void Route(evhttp_request* request);
  void HandleGenerate(evhttp_request* request, Endpoint endpoint);
  // A generation request refused before the queue: counted as rejected, then the error reply.
  void Reject(evhttp_request* request, const absl::Status& error);
  void HandleModels(evhttp_request* request);
  void HandleTokenize(evhttp_request* request);
  void HandleDetokenize(evhttp_request* request);
  void FlushDirty();
  // Tokens a request may fill: the model's context, or the whole KV cache if smaller.
  int64_t ContextTokens() const;

  const HttpFrontEndOptions options_;
  GenerationService* const service_;
  std::unique_ptr<HttpTlsContext> tls_;  // nullptr: plaintext
  std::shared_ptr<Mailbox> mailbox_;     // shared with every stream's notify
  event_base* base_ = nullptr;
  evhttp* http_ = nullptr;
  event* wake_event_ = nullptr;
  int32_t port_ = 0;
  std::thread loop_;
  std::atomic<bool> stop_requested_{false};
  absl::Duration grace_ = absl::ZeroDuration();  // set before stop_requested_
  uint64_t next_id_ = 0;                         // loop thread
  // Accepted generation requests whose reply has not ended (loop thread).
  absl::flat_hash_map<HttpStream*, std::shared_ptr<HttpStream>> live_;
};

}  // namespace kvserve::openai

#endif  // KVSERVE_SERVER_OPENAI_HTTP_FRONT_END_H_
