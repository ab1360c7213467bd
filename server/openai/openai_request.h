// OpenAI request bodies → kvserve's GenerateRequest. The HTTP front end (http_front_end.h) parses
// a POST body here, then hands the GenerateRequest to the same admission and validation as the
// gRPC service (GenerationService::Prepare), so both doors refuse a bad request with the same
// message.
//
//   /v1/completions       prompt: a string, an array of token ids, or a one-element array of
//                         either (batches of prompts are refused); max_tokens (default 16, as
//                         OpenAI's); logprobs: an integer 0..20 (top alternatives per token).
//   /v1/chat/completions  messages: [{role, content}] with content a string or an array of
//                         {"type": "text", "text": ...} parts; max_tokens or
//                         max_completion_tokens (default: the rest of the context);
//                         logprobs: bool, top_logprobs: 0..20.
//   both                  model, temperature, top_p, top_k (-1 = off, as vLLM), min_p, seed, stop
//                         (a string or an array of strings), n, presence_penalty,
//                         frequency_penalty, repetition_penalty, logit_bias ({"<id>": bias}),
//                         min_tokens, ignore_eos, include_stop_str_in_output, stream,
//                         stream_options.include_usage, user (ignored).
//
// Invariants: unknown fields are ignored; a known field of the wrong JSON type, a body that is not
// a JSON object and features kvserve does not have (echo, suffix, best_of > n, tools, response
// formats other than text) are INVALID_ARGUMENT naming the field. `null` counts as absent for
// every field, as in OpenAI's SDKs. Range checks are left to the scheduler's validation.
//
// Threads: pure functions; call them from any thread.
#ifndef KVSERVE_SERVER_OPENAI_OPENAI_REQUEST_H_
#define KVSERVE_SERVER_OPENAI_OPENAI_REQUEST_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve::openai {

enum class Endpoint { kCompletions, kChatCompletions };

// Default max_tokens of /v1/completions (OpenAI's).
inline constexpr int32_t kDefaultCompletionMaxTokens = 16;

struct OpenAiRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;  // as sent; empty if absent (the served model)
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // max_tokens was absent on a chat request: the caller sets it to what the context leaves.
  bool max_tokens_from_context = false;
  // Chat's `logprobs: true` (the reply then carries logprobs.content, with top_logprobs
  // alternatives each); for completions, whether `logprobs` was given.
  bool logprobs = false;
  v1::GenerateRequest request;
};

absl::StatusOr<OpenAiRequest> ParseOpenAiRequest(Endpoint endpoint, absl::string_view body);

// POST /tokenize: {"prompt": "..."} or {"messages": [...]} (rendered with the chat template by the
// caller), optional "add_special_tokens" (default true for prompts, as vLLM). POST /detokenize:
// {"tokens": [ids]}.
struct TokenizeBody {
  bool chat = false;
  v1::TokenizeRequest text;  // when !chat
  v1::ChatPrompt messages;   // when chat
};
absl::StatusOr<TokenizeBody> ParseTokenizeBody(absl::string_view body);
absl::StatusOr<v1::DetokenizeRequest> ParseDetokenizeBody(absl::string_view body);

}  // namespace kvserve::openai

#endif  // KVSERVE_SERVER_OPENAI_OPENAI_REQUEST_H_
