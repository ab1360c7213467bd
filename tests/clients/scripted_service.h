// A Generation service for client tests (no engine): Generate runs the test's handler,
// GetServerInfo answers a set ServerInfo, Tokenize/Detokenize/RenderChat answer set responses and
// keep the last request. ScriptedServer runs it on 127.0.0.1 (port 0).
//
// Threads: the setters and the handlers lock mu_; a test may set while calls are in flight.
#ifndef KVSERVE_TESTS_CLIENTS_SCRIPTED_SERVICE_H_
#define KVSERVE_TESTS_CLIENTS_SCRIPTED_SERVICE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

namespace kvserve::testing {

using Writer = grpc::ServerWriter<v1::GenerateResponse>;
using Handler =
    std::function<grpc::Status(grpc::ServerContext*, const v1::GenerateRequest&, Writer*)>;

class ScriptedService final : public v1::Generation::Service {
 public:
  void SetHandler(Handler handler) {
    absl::MutexLock lock(&mu_);
    handler_ = std::move(handler);
  }
  void SetInfo(const v1::ServerInfo& info) {
    absl::MutexLock lock(&mu_);
    info_ = info;
  }
  void SetTokenize(const v1::TokenizeResponse& response) {
    absl::MutexLock lock(&mu_);
    tokenize_ = response;
  }
  void SetRendered(const v1::RenderedChat& rendered) {
    absl::MutexLock lock(&mu_);
    rendered_ = rendered;
  }
  v1::GenerateRequest last_generate() {
    absl::MutexLock lock(&mu_);
    return last_generate_;
  }
  v1::TokenizeRequest last_tokenize() {
    absl::MutexLock lock(&mu_);
    return last_tokenize_;
  }
  v1::ChatPrompt last_render() {
    absl::MutexLock lock(&mu_);
    return last_render_;
  }

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        Writer* writer) override {
    Handler handler;
    {
      absl::MutexLock lock(&mu_);
      handler = handler_;
      last_generate_ = *request;
    }
    return handler(context, *request, writer);
  }
  grpc::Status GetServerInfo(grpc::ServerContext*, const v1::GetServerInfoRequest*,
                             v1::ServerInfo* info) override {
    absl::MutexLock lock(&mu_);
    *info = info_;
    return grpc::Status::OK;
  }
  grpc::Status Tokenize(grpc::ServerContext*, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override {
    absl::MutexLock lock(&mu_);
    last_tokenize_ = *request;
    *response = tokenize_;
    return grpc::Status::OK;
  }
  grpc::Status Detokenize(grpc::ServerContext*, const v1::DetokenizeRequest* request,
                          v1::DetokenizeResponse* response) override {
    // Each id as "<id>", so that a test sees which ids arrived.
    for (int32_t id : request->token_ids())
      response->mutable_text()->append(absl::StrCat("<", id, ">"));
    return grpc::Status::OK;
  }
  grpc::Status RenderChat(grpc::ServerContext*, const v1::ChatPrompt* prompt,
                          v1::RenderedChat* rendered) override {
    absl::MutexLock lock(&mu_);
    last_render_ = *prompt;
    *rendered = rendered_;
    return grpc::Status::OK;
  }

 private:
  absl::Mutex mu_;
  Handler handler_ ABSL_GUARDED_BY(mu_);
  v1::ServerInfo info_ ABSL_GUARDED_BY(mu_);
  v1::TokenizeResponse tokenize_ ABSL_GUARDED_BY(mu_);
  v1::RenderedChat rendered_ ABSL_GUARDED_BY(mu_);
  v1::GenerateRequest last_generate_ ABSL_GUARDED_BY(mu_);
  v1::TokenizeRequest last_tokenize_ ABSL_GUARDED_BY(mu_);
  v1::ChatPrompt last_render_ ABSL_GUARDED_BY(mu_);
};

// A message of sample `index` with `tokens` and `text`.
inline v1::GenerateResponse Message(const std::string& id, std::vector<int32_t> tokens,
                                    const std::string& text = "", int32_t index = 0) {
  v1::GenerateResponse r;
  r.set_request_id(id);
  r.mutable_token_ids()->Add(tokens.begin(), tokens.end());
  r.set_text(text);
  r.set_index(index);
  return r;
}

// `m` as its sample's last message (finish_reason), and with usage if `usage` is true.
inline v1::GenerateResponse Finishing(v1::GenerateResponse m, v1::FinishReason reason,
                                      bool usage = false, int32_t prompt = 5,
                                      int32_t completion = 0) {
  m.set_finish_reason(reason);
  if (usage) {
    m.mutable_usage()->set_prompt_tokens(prompt);
    m.mutable_usage()->set_completion_tokens(completion);
    m.mutable_usage()->set_cached_prompt_tokens(1);
  }
  return m;
}

// Writes `messages` `gap` apart, then OK.
inline Handler Script(std::vector<v1::GenerateResponse> messages,
                      absl::Duration gap = absl::ZeroDuration()) {
  return [messages = std::move(messages), gap](grpc::ServerContext*, const v1::GenerateRequest&,
                                               Writer* writer) {
    for (const v1::GenerateResponse& m : messages) {
      absl::SleepFor(gap);
      writer->Write(m);
    }
    return grpc::Status::OK;
  };
}

// ScriptedService on 127.0.0.1:<free port>, shut down with the object.
class ScriptedServer {
 public:
  ScriptedServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    channel_ =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials());
  }
  ~ScriptedServer() {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }
  bool ok() const { return server_ != nullptr && port_ > 0; }
  ScriptedService& service() { return service_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  ScriptedService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace kvserve::testing

#endif  // KVSERVE_TESTS_CLIENTS_SCRIPTED_SERVICE_H_
