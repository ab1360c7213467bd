#include "server/openai/http_stream.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sys/socket.h>

#include <cerrno>
#include <string>
#include <utility>

#include "server/openai/http_reply.h"

namespace kvserve::openai {
class HttpStream::Sink final : public TokenSink {
 public:
  explicit Sink(std::shared_ptr<HttpStream> stream) : stream_(std::move(stream)) {}
  void OnOutput(const SampleOutput& output) override { stream_->Push(output); }
  void OnFinish(const Usage& usage) override { stream_->End(absl::OkStatus(), usage); }
  void OnError(const absl::Status& status) override { stream_->End(status, Usage{}); }

 private:
  const std::shared_ptr<HttpStream> stream_;
};

HttpStream::HttpStream(evhttp_request* request, Options options,
                       std::shared_ptr<const Tokenizer> tokenizer, Notify notify)
    : request_(request),
      options_(std::move(options)),
      tokenizer_(std::move(tokenizer)),
      notify_(std::move(notify)) {
  if (!options_.stream) completion_.emplace(options_.header, options_.num_choices);
}

HttpStream::~HttpStream() {
  if (read_watcher_ != nullptr) event_free(read_watcher_);
}

absl::Status HttpStream::Start(Scheduler* scheduler, GenerationParams params) {
  absl::StatusOr<std::shared_ptr<RequestHandle>> handle =
      scheduler->Submit(std::move(params), std::make_shared<Sink>(shared_from_this()));
  if (!handle.ok()) return handle.status();
  {
    absl::MutexLock lock(&mu_);
    handle_ = *handle;
    if (cancel_requested_) handle_->Cancel();
  }
  evhttp_connection* connection = evhttp_request_get_connection(request_);
  evhttp_connection_set_closecb(
      connection,
      [](evhttp_connection*, void* arg) { static_cast<HttpStream*>(arg)->OnConnectionClosed(); },
      this);
  // libevent stops reading a connection while its request is handled, so a client that hangs up
  // before the reply's next write would go unnoticed: watch the socket for the peer's FIN
  // meanwhile. With epoll that is EV_CLOSED (EPOLLRDHUP), which sees the FIN even behind unread
  // bytes — a TLS client's close_notify, a pipelined request; without it, EOF by MSG_PEEK.
  bufferevent* bev = evhttp_connection_get_bufferevent(connection);
  event_base* base = bufferevent_get_base(bev);
  const bool early_close = (event_base_get_features(base) & EV_FEATURE_EARLY_CLOSE) != 0;
  read_watcher_ =
      event_new(base, bufferevent_getfd(bev), (early_close ? EV_CLOSED : EV_READ) | EV_PERSIST,
                &HttpStream::OnReadable, this);
  if (read_watcher_ != nullptr) event_add(read_watcher_, nullptr);

  if (options_.stream) {
    evkeyvalq* headers = evhttp_request_get_output_headers(request_);
    evhttp_add_header(headers, "Content-Type", "text/event-stream");
    evhttp_add_header(headers, "Cache-Control", "no-cache");
    evhttp_send_reply_start(request_, 200, "OK");
    if (options_.header.endpoint == Endpoint::kChatCompletions) {
      std::string roles;
      for (int32_t i = 0; i < options_.num_choices; ++i) {
        roles += SseEvent(RoleChunk(options_.header, i));
      }
      WriteChunk(roles);
    }
  }
  return absl::OkStatus();
}

void HttpStream::OnReadable(int fd, short what, void* arg) {
  auto* self = static_cast<HttpStream*>(arg);
  if ((what & EV_CLOSED) != 0) {
    event_del(self->read_watcher_);
    self->Cancel();
    return;
  }
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  // Data (a pipelined next request) is libevent's to read later: stop watching. EOF or an error:
  // the client is gone.
  event_del(self->read_watcher_);
  if (n <= 0) self->Cancel();
}

void HttpStream::OnConnectionClosed() {
  connection_gone_ = true;  // libevent detached request_ from the connection
  if (read_watcher_ != nullptr) {
    event_free(read_watcher_);  // its fd is about to be closed
    read_watcher_ = nullptr;
  }
  Cancel();
}

void HttpStream::Cancel() {
  absl::MutexLock lock(&mu_);
  cancel_requested_ = true;
  if (handle_ != nullptr) handle_->Cancel();
}

void HttpStream::Push(const SampleOutput& output) {
  TokenEvent event;
  event.index = output.index;
  event.token = output.token;
  event.text = std::string(output.text);
  event.finish = output.finish;
  if (output.logprobs != nullptr) {
    event.has_logprobs = true;
    event.logprobs = *output.logprobs;
  }
  {
    absl::MutexLock lock(&mu_);
    pending_.push_back(std::move(event));
  }
  if (ClaimNotify()) notify_(shared_from_this());
}

void HttpStream::End(absl::Status status, const Usage& usage) {
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    status_ = std::move(status);
    usage_ = usage;
  }
  if (ClaimNotify()) notify_(shared_from_this());
}

void HttpStream::Detach() {
  if (read_watcher_ != nullptr) {
    event_free(read_watcher_);
    read_watcher_ = nullptr;
  }
  if (!ConnectionGone()) {
    evhttp_connection_set_closecb(evhttp_request_get_connection(request_), nullptr, nullptr);
  }
}

void HttpStream::WriteChunk(const std::string& bytes) {
  if (ConnectionGone() || write_stalled_ || bytes.empty()) return;
  evbuffer* buffer = evbuffer_new();
  evbuffer_add(buffer, bytes.data(), bytes.size());
  evhttp_send_reply_chunk(request_, buffer);
  evbuffer_free(buffer);
  bufferevent* bev = evhttp_connection_get_bufferevent(evhttp_request_get_connection(request_));
  if (evbuffer_get_length(bufferevent_get_output(bev)) > options_.max_buffered_bytes) {
    write_stalled_ = true;  // the client is not reading: stop generating for it
    Cancel();
  }
}

bool HttpStream::ConnectionGone() {
  // libevent detaches a request from a connection that failed; it may not have told us yet.
  if (evhttp_request_get_connection(request_) == nullptr) connection_gone_ = true;
  return connection_gone_;
}

void HttpStream::EndReply(const absl::Status& status, const Usage& usage) {
  reply_ended_ = true;
  Detach();
  if (options_.stream || connection_gone_) {
    // Ends the chunked reply; with the connection gone libevent only frees the request here.
    evhttp_send_reply_end(request_);
  } else if (status.ok()) {
    SendJson(request_, 200, completion_->Body(usage));
  } else {
    SendError(request_, status);
  }
}

bool HttpStream::Flush() {
  if (reply_ended_) return true;
  std::vector<TokenEvent> events;
  bool ended;
  absl::Status status;
  Usage usage;
  {
    absl::MutexLock lock(&mu_);
    events.swap(pending_);
    ended = ended_;
    status = status_;
    usage = usage_;
  }
  if (options_.stream) {
    std::string bytes;
    for (const TokenEvent& event : events) {
      bytes += SseEvent(TokenChunk(options_.header, *tokenizer_, event));
    }
    if (ended) {
      if (status.ok()) {
        if (options_.include_usage) bytes += SseEvent(UsageChunk(options_.header, usage));
      } else {
        bytes += SseEvent(ErrorBody(status));
      }
      bytes += kSseDone;
    }
    WriteChunk(bytes);
  } else {
    for (const TokenEvent& event : events) completion_->Add(*tokenizer_, event);
  }
  if (ended) EndReply(status, usage);
  return ended;
}

}  // namespace kvserve::openai
