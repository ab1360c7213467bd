#include "server/generation_service.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/serving/model_source.h"
#include "grpcpp/impl/codegen/proto_utils.h"  // SerializationTraits for protobuf messages
#include "server/bearer_auth_interceptor.h"
#include "server/generate_reactor.h"
#include "server/proto_convert.h"
#include "server/request_parser.h"
#include "server/tokenize_handlers.h"

namespace kvserve {

absl::StatusOr<std::unique_ptr<GenerationService>> GenerationService::Create(
    Scheduler* scheduler, Metrics* metrics, std::shared_ptr<const Tokenizer> tokenizer,
    const StreamLimits& limits, std::shared_ptr<const ChatPrompter> chat) {
  if (scheduler == nullptr)
    return absl::InvalidArgumentError("GenerationService needs a scheduler");
  if (limits.max_live_streams <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_live_streams must be > 0; got ", limits.max_live_streams));
  }
  if (limits.max_live_streams_per_peer <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_live_streams_per_peer must be > 0; got ",
                                                   limits.max_live_streams_per_peer));
  }
  if (limits.write_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat("the stream write timeout must be > 0; got ",
                                                   absl::FormatDuration(limits.write_timeout)));
  }
  const ModelConfig& config = scheduler->model_config();
  if (tokenizer == nullptr) {
    absl::StatusOr<ByteTokenizer> bytes = TokenizerForModel(config);
    if (!bytes.ok()) return bytes.status();
    tokenizer = std::make_shared<const ByteTokenizer>(*std::move(bytes));
  }
  if (tokenizer->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("the tokenizer has ", tokenizer->vocab_size(),
                                                   " ids but model '", config.name, "' only ",
                                                   config.vocab_size));
  }
  return std::unique_ptr<GenerationService>(
      new GenerationService(scheduler, metrics, std::move(tokenizer), limits, std::move(chat)));
}

absl::Status GenerationService::Authenticate(const grpc::CallbackServerContext& context) const {
  return auth_ == nullptr ? absl::OkStatus() : CheckBearerAuth(*auth_, context.client_metadata());
}

absl::Status GenerationService::Admit(const v1::GenerateRequest& request) const {
  if (!accepting()) return absl::UnavailableError("server is shutting down");
  if (request.request_id().size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat("request_id has ", request.request_id().size(),
                                                   " bytes, more than ", kMaxRequestIdBytes));
  }
  return absl::OkStatus();
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* GenerationService::Generate(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request) {
  v1::GenerateRequest request;
  absl::Status admission = Authenticate(*context);  // before parsing: strangers learn nothing
  if (admission.ok()) admission = ParseRequest(*raw_request, &request);
  if (admission.ok()) admission = Admit(request);
  std::string request_id = request.request_id();
  if (request_id.empty()) {
    request_id = absl::StrCat("req-", next_request_number_.fetch_add(1, std::memory_order_relaxed));
  }
  absl::StatusOr<GenerationParams> params =
      admission.ok() ? ToParams(request) : absl::StatusOr<GenerationParams>(admission);
  return GenerateReactor::Start(context, std::move(params), std::move(request_id), scheduler_,
                                tokenizer_, &live_streams_, metrics_);
}

absl::StatusOr<GenerationParams> GenerationService::Prepare(
    const v1::GenerateRequest& request) const {
  if (absl::Status admission = Admit(request); !admission.ok()) return admission;
  return ToParams(request);
}

absl::StatusOr<RenderedChatPrompt> GenerationService::RenderChatPrompt(
    const v1::ChatPrompt& chat) const {
  if (chat_ == nullptr) {
    return absl::FailedPreconditionError(
        "chat: the model has no chat template (start kvserve with --chat_template FILE)");
  }
  std::vector<ChatMessage> messages;
  messages.reserve(chat.messages_size());
  for (const v1::ChatMessage& m : chat.messages()) messages.push_back({m.role(), m.content()});
  return chat_->Render(messages, !chat.no_generation_prompt());
}

absl::StatusOr<GenerationParams> GenerationService::ToParams(
    const v1::GenerateRequest& request) const {
  GenerationParams params = ToGenerationParams(request, *tokenizer_);
  if (request.prompt_case() != v1::GenerateRequest::kChat) return params;
  absl::StatusOr<RenderedChatPrompt> rendered = RenderChatPrompt(request.chat());
  if (!rendered.ok()) return rendered.status();
  params.has_prompt = true;
  params.prompt_ids = std::move(rendered->ids);
  // The assistant's turn ends at the template's end-of-turn token (or text).
  for (int32_t id : chat_->end_of_turn_ids()) params.stop_token_ids.push_back(id);
  for (const std::string& s : chat_->end_of_turn_strings()) params.stop_strings.push_back(s);
  return params;
}

template <typename Request, typename Response, typename Handler>
grpc::ServerUnaryReactor* GenerationService::Unary(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* raw_request,
                                                   grpc::ByteBuffer* raw_response, Handler handle) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  Request request;
  Response response;
  absl::Status status = Authenticate(*context);
  if (status.ok()) status = ParseRequest(*raw_request, &request);
  if (status.ok()) status = handle(request, &response);
  if (!status.ok()) {
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }
  bool own_buffer = false;
  reactor->Finish(
      grpc::SerializationTraits<Response>::Serialize(response, raw_response, &own_buffer));
  return reactor;
}

grpc::ServerUnaryReactor* GenerationService::GetServerInfo(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* raw_request,
                                                           grpc::ByteBuffer* raw_response) {
  return Unary<v1::GetServerInfoRequest, v1::ServerInfo>(
      context, raw_request, raw_response,
      [this](const v1::GetServerInfoRequest&, v1::ServerInfo* info) {
        FillServerInfo(scheduler_->model_config(), scheduler_->options(), scheduler_->stats(),
                       chat_ != nullptr, info);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* GenerationService::Tokenize(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* raw_request,
                                                      grpc::ByteBuffer* raw_response) {
  return Unary<v1::TokenizeRequest, v1::TokenizeResponse>(
      context, raw_request, raw_response,
      [this](const v1::TokenizeRequest& request, v1::TokenizeResponse* response) {
        return kvserve::Tokenize(*tokenizer_, request, response);
      });
}

grpc::ServerUnaryReactor* GenerationService::Detokenize(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* raw_request,
                                                        grpc::ByteBuffer* raw_response) {
  return Unary<v1::DetokenizeRequest, v1::DetokenizeResponse>(
      context, raw_request, raw_response,
      [this](const v1::DetokenizeRequest& request, v1::DetokenizeResponse* response) {
        return kvserve::Detokenize(*tokenizer_, scheduler_->model_config().vocab_size, request,
                                   response);
      });
}

grpc::ServerUnaryReactor* GenerationService::RenderChat(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* raw_request,
                                                        grpc::ByteBuffer* raw_response) {
  return Unary<v1::ChatPrompt, v1::RenderedChat>(
      context, raw_request, raw_response,
      [this](const v1::ChatPrompt& chat, v1::RenderedChat* response) {
        absl::StatusOr<RenderedChatPrompt> rendered = RenderChatPrompt(chat);
        if (!rendered.ok()) return rendered.status();
        response->set_text(std::move(rendered->text));
        response->mutable_token_ids()->Add(rendered->ids.begin(), rendered->ids.end());
        return absl::OkStatus();
      });
}

}  // namespace kvserve
