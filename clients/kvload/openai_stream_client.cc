#include "clients/kvload/openai_stream_client.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace kvserve::load {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

grpc::StatusCode CodeForHttp(int status) {
  switch (status) {
    case 400:
    case 413:
    case 422:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case 401:
      return grpc::StatusCode::UNAUTHENTICATED;
    case 403:
      return grpc::StatusCode::PERMISSION_DENIED;
    case 404:
      return grpc::StatusCode::NOT_FOUND;
    case 429:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case 499:
      return grpc::StatusCode::CANCELLED;
    case 503:
      return grpc::StatusCode::UNAVAILABLE;
    case 504:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    default:
      return grpc::StatusCode::INTERNAL;
  }
}

grpc::StatusCode CodeForName(const std::string& name) {
  static const std::pair<const char*, grpc::StatusCode> kNames[] = {
      {"INVALID_ARGUMENT", grpc::StatusCode::INVALID_ARGUMENT},
      {"RESOURCE_EXHAUSTED", grpc::StatusCode::RESOURCE_EXHAUSTED},
      {"UNAVAILABLE", grpc::StatusCode::UNAVAILABLE},
      {"DEADLINE_EXCEEDED", grpc::StatusCode::DEADLINE_EXCEEDED},
      {"CANCELLED", grpc::StatusCode::CANCELLED},
  };
  for (const auto& [n, code] : kNames) {
    if (name == n) return code;
  }
  return grpc::StatusCode::INTERNAL;
}

}  // namespace

class OpenAiStreamClient::Impl {
 public:
  struct Stream {
    Impl* impl = nullptr;
    int64_t tag = 0;
    GenerateCallOptions options;
    GenerateRecord record;
    evhttp_connection* connection = nullptr;
    evhttp_request* request = nullptr;  // null once libevent is done with it
    event* timer = nullptr;
    std::string pending;  // SSE bytes not yet split into events
    std::string error_body;
    int http_status = 0;
    bool saw_done = false;
    bool ended = false;
  };

  Impl(const Options& options, Done done, OnTokens on_tokens)
      : options_(options), done_(std::move(done)), on_tokens_(std::move(on_tokens)) {}

  ~Impl() {
    if (loop_.joinable()) {
      AbortAll();
      {
        std::lock_guard<std::mutex> lock(mu_);
        stopping_ = true;
      }
      event_active(wake_, 0, 0);
      loop_.join();
    }
    // Streams whose deferred free had not run when the loop stopped.
    for (Stream* s : dying_) FreeStream(s);
    dying_.clear();
    if (wake_ != nullptr) event_free(wake_);
    if (base_ != nullptr) event_base_free(base_);
  }

  absl::Status Init() {
    static const int threads = evthread_use_pthreads();  // once per process
    if (threads != 0) return absl::InternalError("libevent: no pthreads support");
    base_ = event_base_new();
    if (base_ == nullptr) return absl::InternalError("event_base_new failed");
    wake_ = event_new(base_, -1, EV_PERSIST, &Impl::OnWake, this);
    // A far timeout keeps the loop alive while nothing is in flight.
    const timeval day{86400, 0};
    event_add(wake_, &day);
    loop_ = std::thread([this] { event_base_dispatch(base_); });
    return absl::OkStatus();
  }

  void Submit(const v1::GenerateRequest& request, const GenerateCallOptions& options) {
    auto stream = std::make_unique<Stream>();
    stream->impl = this;
    stream->tag = options.tag;
    stream->options = options;
    stream->record.start = Clock::now();
    stream->record.samples.resize(std::max(1, request.n()));
    {
      std::lock_guard<std::mutex> lock(mu_);
      to_start_.push_back({std::move(stream), Body(request, options_.model), Path(request)});
    }
    event_active(wake_, 0, 0);
  }

  void AbortAll() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      abort_requested_ = true;
    }
    event_active(wake_, 0, 0);
  }

 private:
  struct ToStart {
    std::unique_ptr<Stream> stream;
    std::string body;
    const char* path;
  };

  static void OnWake(evutil_socket_t, short, void* arg) { static_cast<Impl*>(arg)->Drain(); }

  void Drain() {
    std::vector<ToStart> starts;
    bool abort;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mu_);
      starts.swap(to_start_);
      abort = std::exchange(abort_requested_, false);
      stopping = stopping_;
    }
    for (ToStart& s : starts) Begin(std::move(s));
    if (abort) {
      std::vector<Stream*> all(live_.begin(), live_.end());
      for (Stream* s : all) {
        s->record.aborted = true;
        End(s, grpc::Status(grpc::StatusCode::CANCELLED, "aborted by kvload"));
      }
    }
    if (stopping) event_base_loopbreak(base_);
  }

  void Begin(ToStart start) {
    Stream* s = start.stream.release();
    live_.insert(s);
    s->connection =
        evhttp_connection_base_new(base_, nullptr, options_.host.c_str(), options_.port);
    if (s->connection == nullptr) {
      return End(s, grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot create a connection"));
    }
    evhttp_connection_set_retries(s->connection, 0);
    s->request = evhttp_request_new(&Impl::OnRequestDone, s);
    evhttp_request_set_chunked_cb(s->request, &Impl::OnChunk);
    evhttp_request_set_error_cb(s->request, &Impl::OnRequestError);
    evkeyvalq* headers = evhttp_request_get_output_headers(s->request);
    evhttp_add_header(headers, "Host", options_.host.c_str());
    evhttp_add_header(headers, "Content-Type", "application/json");
    evhttp_add_header(headers, "Accept", "text/event-stream");
    if (!options_.bearer_token.empty()) {
      evhttp_add_header(headers, "Authorization",
                        absl::StrCat("Bearer ", options_.bearer_token).c_str());
    }
    evbuffer_add(evhttp_request_get_output_buffer(s->request), start.body.data(),
                 start.body.size());
    if (s->options.deadline_ms > 0) {
      s->timer = evtimer_new(base_, &Impl::OnDeadline, s);
      const timeval tv{static_cast<time_t>(s->options.deadline_ms / 1000),
                       static_cast<suseconds_t>((s->options.deadline_ms % 1000) * 1000)};
      evtimer_add(s->timer, &tv);
    }
    if (evhttp_make_request(s->connection, s->request, EVHTTP_REQ_POST, start.path) != 0) {
      s->request = nullptr;  // libevent freed it
      End(s, grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot send the request"));
    }
  }

  static void OnDeadline(evutil_socket_t, short, void* arg) {
    auto* s = static_cast<Stream*>(arg);
    s->impl->End(s, grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline exceeded"));
  }

  static void OnChunk(evhttp_request* request, void* arg) {
    auto* s = static_cast<Stream*>(arg);
    if (s->ended) return;
    s->http_status = evhttp_request_get_response_code(request);
    s->impl->Read(s, evhttp_request_get_input_buffer(request));
  }

  static void OnRequestError(evhttp_request_error error, void* arg) {
    auto* s = static_cast<Stream*>(arg);
    s->request = nullptr;  // libevent frees it after this
    if (s->ended) return;
    s->impl->End(s, grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 absl::StrCat("connection failed (libevent error ", error, ")")));
  }

  static void OnRequestDone(evhttp_request* request, void* arg) {
    auto* s = static_cast<Stream*>(arg);
    s->request = nullptr;  // libevent frees it after this callback
    if (s->ended) return;
    if (request == nullptr) {
      return s->impl->End(s, grpc::Status(grpc::StatusCode::UNAVAILABLE, "no reply"));
    }
    s->http_status = evhttp_request_get_response_code(request);
    s->impl->Read(s, evhttp_request_get_input_buffer(request));
    if (s->ended) return;
    if (s->http_status != 200) {
      Json error = Json::parse(s->error_body + s->pending, nullptr, false);
      std::string message = absl::StrCat("HTTP ", s->http_status);
      if (error.is_object() && error.contains("error") && error["error"].is_object()) {
        message = error["error"].value("message", message);
      }
      return s->impl->End(s, grpc::Status(CodeForHttp(s->http_status), message));
    }
    if (!s->saw_done) {
      return s->impl->End(
          s, grpc::Status(grpc::StatusCode::UNAVAILABLE, "the stream ended before [DONE]"));
    }
    s->impl->End(s, grpc::Status::OK);
  }

  void Read(Stream* s, evbuffer* input) {
    const size_t size = evbuffer_get_length(input);
    if (size == 0) return;
    std::string bytes(size, '\0');
    evbuffer_remove(input, bytes.data(), size);
    if (s->http_status != 200) {
      s->error_body += bytes;
      return;
    }
    s->pending += bytes;
    size_t start = 0;
    while (!s->ended) {
      const size_t end = s->pending.find("\n\n", start);
      if (end == std::string::npos) break;
      absl::string_view event(s->pending.data() + start, end - start);
      start = end + 2;
      if (absl::ConsumePrefix(&event, "data: ")) OnEvent(s, event);
    }
    s->pending.erase(0, start);
  }

  void OnEvent(Stream* s, absl::string_view data) {
    if (data == "[DONE]") {
      s->saw_done = true;
      return;
    }
    const Json chunk = Json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (!chunk.is_object()) {
      return End(s, grpc::Status(grpc::StatusCode::INTERNAL, "a chunk is not a JSON object"));
    }
    if (chunk.contains("error") && chunk["error"].is_object()) {
      const Json& e = chunk["error"];
      return End(s, grpc::Status(CodeForName(e.value("code", "")), e.value("message", "error")));
    }
    GenerateRecord& r = s->record;
    if (chunk.contains("usage") && chunk["usage"].is_object()) {
      r.has_usage = true;
      r.usage.set_prompt_tokens(chunk["usage"].value("prompt_tokens", 0));
      r.usage.set_completion_tokens(chunk["usage"].value("completion_tokens", 0));
    }
    if (!chunk.contains("choices") || !chunk["choices"].is_array()) return;
    const double t = std::chrono::duration<double>(Clock::now() - r.start).count();
    for (const Json& choice : chunk["choices"]) {
      const int32_t index = choice.value("index", 0);
      // A chat choice's role chunk carries no token.
      const Json* delta = choice.contains("delta") ? &choice["delta"] : nullptr;
      if (delta != nullptr && delta->contains("role")) continue;
      if (index < 0 || static_cast<size_t>(index) >= r.samples.size()) {
        r.index_out_of_range = true;
        continue;
      }
      SampleRecord& sample = r.samples[index];
      if (sample.finish_reason != 0) r.message_after_final = true;
      r.messages.push_back({.t_s = t, .tokens = 1, .index = index});
      ++r.tokens;
      ++sample.tokens;
      const Json& finish = choice.contains("finish_reason") ? choice["finish_reason"] : Json();
      if (finish.is_string()) {
        sample.finish_reason =
            finish == "length" ? v1::FINISH_REASON_LENGTH : v1::FINISH_REASON_STOP;
        r.finish_reason = sample.finish_reason;
      }
      if (on_tokens_) on_tokens_(1);
    }
    if (s->options.cancel_after_tokens > 0 && r.tokens >= s->options.cancel_after_tokens &&
        !r.AllSamplesFinished()) {
      r.cancel_sent = true;
      End(s, grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by kvload"));
    }
  }

  // Ends `s` once: closes its connection (later, outside libevent's callbacks) and reports it.
  void End(Stream* s, grpc::Status status) {
    if (s->ended) return;
    s->ended = true;
    if (s->timer != nullptr) {
      event_free(s->timer);
      s->timer = nullptr;
    }
    if (s->request != nullptr) {
      evhttp_cancel_request(s->request);  // frees it; no callback follows
      s->request = nullptr;
    }
    s->record.status = std::move(status);
    s->record.end_s = std::chrono::duration<double>(Clock::now() - s->record.start).count();
    live_.erase(s);
    done_(s->tag, std::move(s->record));
    // libevent may still be inside this connection's callback: free it on the next loop pass (or
    // in the destructor, if the loop stops first).
    dying_.insert(s);
    event_base_once(
        base_, -1, EV_TIMEOUT,
        [](evutil_socket_t, short, void* arg) {
          auto* stream = static_cast<Stream*>(arg);
          stream->impl->dying_.erase(stream);
          FreeStream(stream);
        },
        s, nullptr);
  }

  static void FreeStream(Stream* s) {
    if (s->connection != nullptr) evhttp_connection_free(s->connection);
    delete s;
  }

  const Options options_;
  const Done done_;
  const OnTokens on_tokens_;
  event_base* base_ = nullptr;
  event* wake_ = nullptr;
  std::thread loop_;
  absl::flat_hash_set<Stream*> live_;   // loop thread
  absl::flat_hash_set<Stream*> dying_;  // ended, not yet freed; loop thread (then the destructor)

  std::mutex mu_;
  std::vector<ToStart> to_start_;  // guarded by mu_
  bool abort_requested_ = false;   // guarded by mu_
  bool stopping_ = false;          // guarded by mu_
};

OpenAiStreamClient::OpenAiStreamClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OpenAiStreamClient::~OpenAiStreamClient() = default;

absl::StatusOr<std::unique_ptr<OpenAiStreamClient>> OpenAiStreamClient::Create(
    const Options& options, Done done, OnTokens on_tokens) {
  if (options.port <= 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad HTTP port ", options.port));
  }
  auto impl = std::make_unique<Impl>(options, std::move(done), std::move(on_tokens));
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<OpenAiStreamClient>(new OpenAiStreamClient(std::move(impl)));
}

void OpenAiStreamClient::Start(const v1::GenerateRequest& request,
                               const GenerateCallOptions& options) {
  impl_->Submit(request, options);
}

void OpenAiStreamClient::AbortAll() { impl_->AbortAll(); }

const char* OpenAiStreamClient::Path(const v1::GenerateRequest& request) {
  return request.has_chat() ? "/v1/chat/completions" : "/v1/completions";
}

std::string OpenAiStreamClient::Body(const v1::GenerateRequest& request, const std::string& model) {
  Json body = {{"max_tokens", request.max_tokens()},
               {"temperature", request.sampling().temperature()},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (!model.empty()) body["model"] = model;
  if (request.has_chat()) {
    Json messages = Json::array();
    for (const v1::ChatMessage& m : request.chat().messages()) {
      messages.push_back({{"role", m.role()}, {"content", m.content()}});
    }
    body["messages"] = std::move(messages);
  } else if (request.has_token_ids()) {
    body["prompt"] =
        std::vector<int32_t>(request.token_ids().ids().begin(), request.token_ids().ids().end());
  } else {
    body["prompt"] = request.text();
  }
  if (request.sampling().seed() != 0) body["seed"] = request.sampling().seed();
  if (request.ignore_eos()) body["ignore_eos"] = true;
  if (request.n() > 1) body["n"] = request.n();
  if (request.stop_size() > 0) {
    body["stop"] = std::vector<std::string>(request.stop().begin(), request.stop().end());
  }
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace kvserve::load
