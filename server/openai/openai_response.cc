#include "server/openai/openai_response.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/tokenize_handlers.h"

namespace kvserve::openai {
namespace {

using Json = nlohmann::json;

const char* ErrorType(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return "invalid_request_error";
    case absl::StatusCode::kUnauthenticated:
      return "authentication_error";
    case absl::StatusCode::kPermissionDenied:
      return "permission_error";
    case absl::StatusCode::kNotFound:
      return "not_found_error";
    case absl::StatusCode::kResourceExhausted:
      return "rate_limit_error";
    case absl::StatusCode::kUnavailable:
      return "service_unavailable";
    case absl::StatusCode::kDeadlineExceeded:
      return "timeout";
    case absl::StatusCode::kCancelled:
      return "cancelled";
    default:
      return "server_error";
  }
}

Json TokenBytes(const std::string& text) {
  Json bytes = Json::array();
  for (unsigned char c : text) bytes.push_back(static_cast<int>(c));
  return bytes;
}

// Chat's logprobs.content[] entry for one token.
Json ChatLogprob(const Tokenizer& tokenizer, const TokenLogprobs& lp) {
  const std::string text = TokenText(tokenizer, lp.token);
  Json top = Json::array();
  for (const TokenLogprob& alt : lp.top_span()) {
    const std::string alt_text = TokenText(tokenizer, alt.token);
    top.push_back({{"token", alt_text}, {"logprob", alt.logprob}, {"bytes", TokenBytes(alt_text)}});
  }
  return {{"token", text},
          {"logprob", lp.logprob},
          {"bytes", TokenBytes(text)},
          {"top_logprobs", std::move(top)}};
}

// Completions' top_logprobs entry: {text: logprob}.
Json TopLogprobsObject(const Tokenizer& tokenizer, const TokenLogprobs& lp) {
  Json top = Json::object();
  for (const TokenLogprob& alt : lp.top_span()) {
    top[TokenText(tokenizer, alt.token)] = alt.logprob;
  }
  return top;
}

Json Envelope(const ResponseHeader& header, bool chunk) {
  const char* object = header.endpoint == Endpoint::kChatCompletions
                           ? (chunk ? "chat.completion.chunk" : "chat.completion")
                           : "text_completion";
  return {{"id", header.id},
          {"object", object},
          {"created", header.created},
          {"model", header.model},
          {"system_fingerprint", nullptr}};
}

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

Json ErrorBody(const absl::Status& status) {
  return {{"error",
           {{"message", std::string(status.message())},
            {"type", ErrorType(status.code())},
            {"param", nullptr},
            {"code", absl::StatusCodeToString(status.code())}}}};
}

Json FinishReasonJson(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    default:
      return nullptr;
  }
}

Json UsageJson(const Usage& usage) {
  Json out = {{"prompt_tokens", usage.prompt_tokens},
              {"completion_tokens", usage.completion_tokens},
              {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
  out["prompt_tokens_details"] = {{"cached_tokens", usage.cached_prompt_tokens}};
  return out;
}

Json TokenChunk(const ResponseHeader& header, const Tokenizer& tokenizer, const TokenEvent& event) {
  Json chunk = Envelope(header, /*chunk=*/true);
  Json choice = {{"index", event.index}};
  Json logprobs = nullptr;
  if (header.endpoint == Endpoint::kChatCompletions) {
    choice["delta"] = {{"content", event.text}};
    if (event.has_logprobs) {
      logprobs = {{"content", Json::array({ChatLogprob(tokenizer, event.logprobs)})}};
    }
  } else {
    choice["text"] = event.text;
    if (event.has_logprobs) {
      logprobs = {{"tokens", {TokenText(tokenizer, event.token)}},
                  {"token_logprobs", {event.logprobs.logprob}},
                  {"top_logprobs", {TopLogprobsObject(tokenizer, event.logprobs)}},
                  {"text_offset", Json::array()}};
    }
  }
  choice["logprobs"] = std::move(logprobs);
  choice["finish_reason"] = FinishReasonJson(event.finish);
  chunk["choices"] = Json::array({std::move(choice)});
  return chunk;
}

Json RoleChunk(const ResponseHeader& header, int32_t index) {
  Json chunk = Envelope(header, /*chunk=*/true);
  chunk["choices"] = Json::array({{{"index", index},
                                   {"delta", {{"role", "assistant"}, {"content", ""}}},
                                   {"logprobs", nullptr},
                                   {"finish_reason", nullptr}}});
  return chunk;
}

Json UsageChunk(const ResponseHeader& header, const Usage& usage) {
  Json chunk = Envelope(header, /*chunk=*/true);
  chunk["choices"] = Json::array();
  chunk["usage"] = UsageJson(usage);
  return chunk;
}

std::string SseEvent(const Json& data) {
  // Invalid UTF-8 never reaches here (output text is decoded whole characters), but a dump must
  // not throw: replace rather than abort the stream.
  return absl::StrCat("data: ", data.dump(-1, ' ', false, Json::error_handler_t::replace), "\n\n");
}

Completion::Completion(ResponseHeader header, int32_t num_choices)
    : header_(std::move(header)), choices_(num_choices > 0 ? num_choices : 1) {}

void Completion::Add(const Tokenizer& tokenizer, const TokenEvent& event) {
  if (event.index < 0 || static_cast<size_t>(event.index) >= choices_.size()) return;
  Choice& c = choices_[event.index];
  if (event.has_logprobs) {
    if (header_.endpoint == Endpoint::kChatCompletions) {
      c.logprobs_items.push_back(ChatLogprob(tokenizer, event.logprobs));
    } else {
      c.tokens.push_back(TokenText(tokenizer, event.token));
      c.token_logprobs.push_back(event.logprobs.logprob);
      c.top_logprobs.push_back(TopLogprobsObject(tokenizer, event.logprobs));
      c.text_offset.push_back(c.text.size());
    }
  }
  c.text += event.text;
  if (event.finish != FinishReason::kNone) c.finish = event.finish;
}

Json Completion::Body(const Usage& usage) const {
  Json body = Envelope(header_, /*chunk=*/false);
  Json choices = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    Json choice = {{"index", i}};
    Json logprobs = nullptr;
    if (header_.endpoint == Endpoint::kChatCompletions) {
      choice["message"] = {{"role", "assistant"}, {"content", c.text}};
      if (header_.logprobs) logprobs = {{"content", c.logprobs_items}};
    } else {
      choice["text"] = c.text;
      if (header_.logprobs) {
        logprobs = {{"tokens", c.tokens},
                    {"token_logprobs", c.token_logprobs},
                    {"top_logprobs", c.top_logprobs},
                    {"text_offset", c.text_offset}};
      }
    }
    choice["logprobs"] = std::move(logprobs);
    choice["finish_reason"] = FinishReasonJson(c.finish);
    choices.push_back(std::move(choice));
  }
  body["choices"] = std::move(choices);
  body["usage"] = UsageJson(usage);
  return body;
}

}  // namespace kvserve::openai
