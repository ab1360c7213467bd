#include "server/openai/http_front_end.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "server/openai/http_reply.h"
#include "server/openai/openai_response.h"
#include "server/tokenize_handlers.h"

namespace kvserve::openai {

// Streams the scheduler thread asks the loop to flush. Shared with every stream's notify, so a
// sink that outlives the front end pushes into a closed mailbox instead of a dangling one.
struct HttpFrontEnd::Mailbox {
  explicit Mailbox(int fd) : wake_fd(fd) {}
  ~Mailbox() { close(wake_fd); }
  void Push(std::shared_ptr<HttpStream> stream) {
    bool wake;
    {
      absl::MutexLock lock(&mu);
      if (closed) return;
      wake = dirty.empty();
      dirty.push_back(std::move(stream));
    }
    if (wake) Wake();
  }
  void Wake() const {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(wake_fd, &one, sizeof(one));
  }
  std::vector<std::shared_ptr<HttpStream>> Take() {
    absl::MutexLock lock(&mu);
    return std::exchange(dirty, {});
  }
  void Close() {
    absl::MutexLock lock(&mu);
    closed = true;
    dirty.clear();
  }

  const int wake_fd;
  absl::Mutex mu;
  std::vector<std::shared_ptr<HttpStream>> dirty ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
};

namespace {

std::string Body(evhttp_request* request) {
  evbuffer* input = evhttp_request_get_input_buffer(request);
  const size_t size = evbuffer_get_length(input);
  std::string body(size, '\0');
  if (size > 0) evbuffer_copyout(input, body.data(), size);
  return body;
}

std::optional<absl::string_view> Header(evhttp_request* request, const char* name) {
  const char* value = evhttp_find_header(evhttp_request_get_input_headers(request), name);
  if (value == nullptr) return std::nullopt;
  return absl::string_view(value);
}

// The request's path without its query.
std::string Path(evhttp_request* request) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(request);
  const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  return path != nullptr && *path != '\0' ? path : "/";
}

std::string RandomHex() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("%016x", rng());
}

bool IsKnownRoute(const std::string& path) {
  return path == "/v1/completions" || path == "/v1/chat/completions" || path == "/v1/models" ||
         path == "/health" || path == "/tokenize" || path == "/detokenize";
}

}  // namespace

HttpFrontEnd::HttpFrontEnd(const HttpFrontEndOptions& options, GenerationService* service)
    : options_(options), service_(service) {}

absl::StatusOr<std::unique_ptr<HttpFrontEnd>> HttpFrontEnd::Start(
    const HttpFrontEndOptions& options, GenerationService* service) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("http port must be in [0, 65535]; got ", options.port));
  }
  if (options.max_body_bytes == 0 || options.max_header_bytes == 0 ||
      options.timeout <= absl::ZeroDuration() || options.served_model_name.empty()) {
    return absl::InvalidArgumentError(
        "the HTTP front end needs a body and header limit, a timeout and a served model name");
  }
  std::unique_ptr<HttpFrontEnd> front(new HttpFrontEnd(options, service));
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) return absl::InternalError("eventfd failed");
  front->mailbox_ = std::make_shared<Mailbox>(wake_fd);
  front->base_ = event_base_new();
  if (front->base_ == nullptr) return absl::InternalError("event_base_new failed");
  front->http_ = evhttp_new(front->base_);
  if (front->http_ == nullptr) return absl::InternalError("evhttp_new failed");
  evhttp_set_max_body_size(front->http_, static_cast<ev_ssize_t>(options.max_body_bytes));
  evhttp_set_max_headers_size(front->http_, static_cast<ev_ssize_t>(options.max_header_bytes));
  evhttp_set_timeout(front->http_,
                     static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(options.timeout))));
  evhttp_set_allowed_methods(
      front->http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
  evhttp_set_gencb(front->http_, &HttpFrontEnd::OnRequest, front.get());
  if (options.tls.tls()) {
    absl::StatusOr<std::unique_ptr<HttpTlsContext>> tls = HttpTlsContext::Create(options.tls);
    if (!tls.ok()) return tls.status();
    front->tls_ = *std::move(tls);
    evhttp_set_bevcb(
        front->http_,
        [](event_base* base, void* arg) {
          return static_cast<const HttpTlsContext*>(arg)->NewConnection(base);
        },
        front->tls_.get());
  }
  evhttp_bound_socket* bound =
      evhttp_bind_socket_with_handle(front->http_, options.host.c_str(), options.port);
  if (bound == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", options.host, ":",
                                               options.port, " (address in use or not local?)"));
  }
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&address),
                  &length) != 0) {
    return absl::InternalError("getsockname failed on the HTTP socket");
  }
  front->port_ = address.ss_family == AF_INET6
                     ? ntohs(reinterpret_cast<sockaddr_in6*>(&address)->sin6_port)
                     : ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
  front->wake_event_ =
      event_new(front->base_, wake_fd, EV_READ | EV_PERSIST, &HttpFrontEnd::OnWake, front.get());
  event_add(front->wake_event_, nullptr);
  front->loop_ = std::thread([base = front->base_] { event_base_dispatch(base); });
  return front;
}

HttpFrontEnd::~HttpFrontEnd() {
  Stop(absl::ZeroDuration());
  if (http_ != nullptr) evhttp_free(http_);  // closes connections: their close callbacks run
  live_.clear();
  if (wake_event_ != nullptr) event_free(wake_event_);
  if (base_ != nullptr) event_base_free(base_);
}

void HttpFrontEnd::Stop(absl::Duration grace) {
  if (!loop_.joinable()) return;
  grace_ = grace;
  stop_requested_.store(true, std::memory_order_release);
  mailbox_->Wake();
  loop_.join();
  mailbox_->Close();
}

void HttpFrontEnd::OnWake(int fd, short /*what*/, void* arg) {
  auto* self = static_cast<HttpFrontEnd*>(arg);
  uint64_t count;
  [[maybe_unused]] ssize_t n = read(fd, &count, sizeof(count));
  self->FlushDirty();
  if (self->stop_requested_.load(std::memory_order_acquire)) {
    const timeval tv = absl::ToTimeval(self->grace_);
    event_base_loopexit(self->base_, &tv);
  }
}

void HttpFrontEnd::FlushDirty() {
  for (std::shared_ptr<HttpStream>& stream : mailbox_->Take()) {
    stream->ReleaseNotify();
    if (stream->Flush()) live_.erase(stream.get());
  }
}

int64_t HttpFrontEnd::ContextTokens() const {
  const Scheduler& scheduler = *service_->scheduler();
  const int64_t cache_tokens =
      scheduler.options().num_pages * static_cast<int64_t>(scheduler.options().page_size);
  return std::min<int64_t>(scheduler.model_config().max_context, cache_tokens);
}

void HttpFrontEnd::OnRequest(evhttp_request* request, void* arg) {
  static_cast<HttpFrontEnd*>(arg)->Route(request);
}

void HttpFrontEnd::OnReplyComplete(evhttp_request* request, void* arg) {
  const std::string path = Path(request);
  static_cast<HttpFrontEnd*>(arg)->options_.metrics->OnHttpResponse(
      IsKnownRoute(path) ? path : "other", evhttp_request_get_response_code(request));
}

void HttpFrontEnd::Route(evhttp_request* request) {
  if (options_.metrics != nullptr) {
    evhttp_request_set_on_complete_cb(request, &HttpFrontEnd::OnReplyComplete, this);
  }
  const std::string path = Path(request);
  const evhttp_cmd_type method = evhttp_request_get_command(request);
  const bool post = method == EVHTTP_REQ_POST;
  const bool get = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;

  enum class Target { kCompletions, kChat, kModels, kHealth, kTokenize, kDetokenize };
  std::optional<Target> route;
  bool wants_post = true;
  if (path == "/v1/completions") {
    route = Target::kCompletions;
  } else if (path == "/v1/chat/completions") {
    route = Target::kChat;
  } else if (path == "/v1/models") {
    route = Target::kModels;
    wants_post = false;
  } else if (path == "/health") {
    route = Target::kHealth;
    wants_post = false;
  } else if (path == "/tokenize") {
    route = Target::kTokenize;
  } else if (path == "/detokenize") {
    route = Target::kDetokenize;
  }
  if (!route.has_value()) {
    return SendError(request, absl::NotFoundError(absl::StrCat("no route for ", path)));
  }
  if (wants_post ? !post : !get) {
    evhttp_add_header(evhttp_request_get_output_headers(request), "Allow",
                      wants_post ? "POST" : "GET");
    return SendError(
        request,
        absl::InvalidArgumentError(absl::StrCat(path, " takes ", wants_post ? "POST" : "GET")),
        405);
  }
  if (*route == Target::kHealth) {
    if (service_->accepting()) return SendJson(request, 200, {{"status", "ok"}});
    return SendError(request, absl::UnavailableError("server is shutting down"));
  }
  if (options_.auth != nullptr) {
    if (absl::Status auth = options_.auth->Verify(Header(request, "Authorization")); !auth.ok()) {
      evhttp_add_header(evhttp_request_get_output_headers(request), "WWW-Authenticate", "Bearer");
      return SendError(request, auth);
    }
  }
  switch (*route) {
    case Target::kCompletions:
      return HandleGenerate(request, Endpoint::kCompletions);
    case Target::kChat:
      return HandleGenerate(request, Endpoint::kChatCompletions);
    case Target::kModels:
      return HandleModels(request);
    case Target::kTokenize:
      return HandleTokenize(request);
    case Target::kDetokenize:
      return HandleDetokenize(request);
    case Target::kHealth:
      break;
  }
}

void HttpFrontEnd::HandleGenerate(evhttp_request* request, Endpoint endpoint) {
  absl::StatusOr<OpenAiRequest> parsed = ParseOpenAiRequest(endpoint, Body(request));
  if (!parsed.ok()) return Reject(request, parsed.status());
  if (!parsed->model.empty() && parsed->model != options_.served_model_name) {
    return Reject(request,
                  absl::NotFoundError(absl::StrCat("The model `", parsed->model,
                                                   "` does not exist; this server serves `",
                                                   options_.served_model_name, "`")));
  }
  absl::StatusOr<GenerationParams> params = service_->Prepare(parsed->request);
  if (!params.ok()) return Reject(request, params.status());
  if (parsed->max_tokens_from_context) {
    params->max_tokens = static_cast<int32_t>(
        std::max<int64_t>(1, ContextTokens() - static_cast<int64_t>(params->prompt_ids.size())));
  }

  HttpStream::Options stream_options;
  ResponseHeader& header = stream_options.header;
  header.endpoint = endpoint;
  header.id = absl::StrCat(endpoint == Endpoint::kChatCompletions ? "chatcmpl-" : "cmpl-",
                           RandomHex(), absl::Hex(++next_id_));
  header.created = absl::ToUnixSeconds(absl::Now());
  header.model = options_.served_model_name;
  header.logprobs = parsed->logprobs;
  stream_options.num_choices = std::max(1, parsed->request.n());
  stream_options.stream = parsed->stream;
  stream_options.include_usage = parsed->include_usage;
  stream_options.max_buffered_bytes = options_.max_buffered_bytes;

  auto stream = std::make_shared<HttpStream>(
      request, std::move(stream_options), service_->tokenizer(),
      [mailbox = mailbox_](std::shared_ptr<HttpStream> s) { mailbox->Push(std::move(s)); });
  if (absl::Status started = stream->Start(service_->scheduler(), *std::move(params));
      !started.ok()) {
    return Reject(request, started);
  }
  live_.emplace(stream.get(), std::move(stream));
}

void HttpFrontEnd::Reject(evhttp_request* request, const absl::Status& error) {
  if (options_.metrics != nullptr) options_.metrics->OnRequestRejected(error.code());
  SendError(request, error);
}

void HttpFrontEnd::HandleModels(evhttp_request* request) {
  nlohmann::json model = {{"id", options_.served_model_name},
                          {"object", "model"},
                          {"created", 0},
                          {"owned_by", "kvserve"},
                          {"max_model_len", ContextTokens()}};
  SendJson(request, 200, {{"object", "list"}, {"data", nlohmann::json::array({model})}});
}

void HttpFrontEnd::HandleTokenize(evhttp_request* request) {
  absl::StatusOr<TokenizeBody> body = ParseTokenizeBody(Body(request));
  if (!body.ok()) return SendError(request, body.status());
  std::vector<int32_t> ids;
  if (body->chat) {
    absl::StatusOr<RenderedChatPrompt> rendered = service_->RenderChatPrompt(body->messages);
    if (!rendered.ok()) return SendError(request, rendered.status());
    ids = std::move(rendered->ids);
  } else {
    v1::TokenizeResponse response;
    if (absl::Status st = Tokenize(*service_->tokenizer(), body->text, &response); !st.ok()) {
      return SendError(request, st);
    }
    ids.assign(response.token_ids().begin(), response.token_ids().end());
  }
  SendJson(request, 200,
           {{"count", ids.size()}, {"max_model_len", ContextTokens()}, {"tokens", ids}});
}

void HttpFrontEnd::HandleDetokenize(evhttp_request* request) {
  absl::StatusOr<v1::DetokenizeRequest> body = ParseDetokenizeBody(Body(request));
  if (!body.ok()) return SendError(request, body.status());
  v1::DetokenizeResponse response;
  if (absl::Status st =
          Detokenize(*service_->tokenizer(), service_->scheduler()->model_config().vocab_size,
                     *body, &response);
      !st.ok()) {
    return SendError(request, st);
  }
  SendJson(request, 200, {{"prompt", response.text()}});
}

}  // namespace kvserve::openai
