// GenerationService: the kvserve.v1.Generation gRPC service on the callback API.
//
//   Generate       one GenerateReactor per stream (see generate_reactor.h); text goes through the
//                  model's tokenizer (ByteTokenizer for the presets, BpeTokenizer for checkpoints).
//                  Requests without an id get "req-<n>". After StopAccepting(), new streams end at
//                  once with UNAVAILABLE "server is shutting down". Refused streams are counted in
//                  the metrics, if any.
//   GetServerInfo  model shapes, cache and scheduler figures (unary, answered inline).
//   Tokenize, Detokenize  the model's tokenizer both ways (tokenize_handlers.h; unary, inline).
//   RenderChat     chat messages through the model's chat template (unary, inline).
//
// Admission, in order, before a stream does any work: the bearer token if RequireBearerToken()
// was called (UNAUTHENTICATED; see bearer_auth_interceptor.h), the request's bytes parsing as a
// GenerateRequest (INVALID_ARGUMENT saying why; request_parser.h), the server still
// accepting (UNAVAILABLE), a request_id of at most kMaxRequestIdBytes (INVALID_ARGUMENT "request_id
// ...": it is echoed in every message), a free live-stream slot (RESOURCE_EXHAUSTED;
// live_streams.h: at most StreamLimits::max_live_streams, and a stream whose client stops reading
// is cancelled after StreamLimits::write_timeout), then the scheduler's own checks.
//
// Threads: the methods run on gRPC's callback threads; StopAccepting() may be called from any
// thread. The scheduler is not owned and must outlive every call (stop the scheduler, then the
// gRPC server, then destroy this).
#ifndef KVSERVE_SERVER_GENERATION_SERVICE_H_
#define KVSERVE_SERVER_GENERATION_SERVICE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "engine/model/model_config.h"
#include "engine/sched/scheduler.h"
#include "engine/serving/chat_prompter.h"
#include "engine/tokenizer/tokenizer.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "security/bearer_token.h"
#include "server/live_streams.h"

namespace kvserve {

class Metrics;

// Longest request_id accepted, in bytes.
inline constexpr size_t kMaxRequestIdBytes = 256;

// Both methods are registered raw (grpc::ByteBuffer in and out) so that a request that does not
// parse gets INVALID_ARGUMENT saying why (request_parser.h), not gRPC's bare UNIMPLEMENTED.
class GenerationService final : public v1::Generation::WithRawCallbackMethod_RenderChat<
                                    v1::Generation::WithRawCallbackMethod_Detokenize<
                                        v1::Generation::WithRawCallbackMethod_Tokenize<
                                            v1::Generation::WithRawCallbackMethod_GetServerInfo<
                                                v1::Generation::WithRawCallbackMethod_Generate<
                                                    v1::Generation::CallbackService>>>>> {
 public:
  // `metrics` (not owned, may be null) must outlive every call, like the scheduler. `tokenizer`
  // encodes text prompts and decodes streamed tokens; null means the byte-level tokenizer of the
  // scheduler's model (TokenizerForModel, engine/serving/model_source.h). INVALID_ARGUMENT if its
  // ids exceed the model's vocabulary. INVALID_ARGUMENT also for limits that are not positive.
  // `chat` renders chat prompts (null: chat requests are FAILED_PRECONDITION).
  static absl::StatusOr<std::unique_ptr<GenerationService>> Create(
      Scheduler* scheduler, Metrics* metrics = nullptr,
      std::shared_ptr<const Tokenizer> tokenizer = nullptr, const StreamLimits& limits = {},
      std::shared_ptr<const ChatPrompter> chat = nullptr);

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Generate(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RenderChat(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

  // From now on every call must carry a bearer token `verifier` accepts. Call it before the gRPC
  // server starts (it is not synchronized with the handlers).
  void RequireBearerToken(std::shared_ptr<const BearerTokenVerifier> verifier) {
    auth_ = std::move(verifier);
  }

  // From now on new Generate calls are refused with UNAVAILABLE. Idempotent.
  void StopAccepting() { accepting_.store(false, std::memory_order_release); }
  bool accepting() const { return accepting_.load(std::memory_order_acquire); }

  const LiveStreams& live_streams() const { return live_streams_; }

  // For the HTTP front end (server/openai/), which authenticates and parses on its own: the
  // admission checks that come before the scheduler's (not accepting: UNAVAILABLE; request_id too
  // long), then the request as the scheduler takes it (ToParams). Any thread.
  absl::StatusOr<GenerationParams> Prepare(const v1::GenerateRequest& request) const;
  // A chat prompt rendered and encoded; FAILED_PRECONDITION without a chat template.
  absl::StatusOr<RenderedChatPrompt> RenderChatPrompt(const v1::ChatPrompt& chat) const;
  Scheduler* scheduler() const { return scheduler_; }
  const std::shared_ptr<const Tokenizer>& tokenizer() const { return tokenizer_; }
  bool has_chat_template() const { return chat_ != nullptr; }

 private:
  GenerationService(Scheduler* scheduler, Metrics* metrics,
                    std::shared_ptr<const Tokenizer> tokenizer, const StreamLimits& limits,
                    std::shared_ptr<const ChatPrompter> chat)
      : scheduler_(scheduler),
        metrics_(metrics),
        tokenizer_(std::move(tokenizer)),
        chat_(std::move(chat)),
        live_streams_(limits) {}

  // The request as the scheduler takes it: a chat prompt rendered and encoded, its end-of-turn
  // added to the stop rules; INVALID_ARGUMENT / FAILED_PRECONDITION when it cannot be rendered.
  absl::StatusOr<GenerationParams> ToParams(const v1::GenerateRequest& request) const;

  // UNAUTHENTICATED unless the call carries an accepted token (OK when none is required).
  absl::Status Authenticate(const grpc::CallbackServerContext& context) const;
  // The checks of the file comment that come before the scheduler's.
  absl::Status Admit(const v1::GenerateRequest& request) const;
  // A unary method: authenticate, parse a Request, `handle` it into a Response, reply.
  template <typename Request, typename Response, typename Handler>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* raw_request,
                                  grpc::ByteBuffer* raw_response, Handler handle);

  Scheduler* const scheduler_;
  Metrics* const metrics_;
  const std::shared_ptr<const Tokenizer> tokenizer_;
  const std::shared_ptr<const ChatPrompter> chat_;   // may be null
  std::shared_ptr<const BearerTokenVerifier> auth_;  // null: no token required
  std::atomic<bool> accepting_{true};
  std::atomic<int64_t> next_request_number_{1};
  LiveStreams live_streams_;  // the Generate streams, from handler to OnDone
};

}  // namespace kvserve

#endif  // KVSERVE_SERVER_GENERATION_SERVICE_H_
