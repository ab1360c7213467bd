// kvserve's outputs → OpenAI's response JSON, in the shapes the official clients parse:
//
//   streaming     one chunk per generated token of one choice ("text_completion" with
//                 choices[0].text, or "chat.completion.chunk" with choices[0].delta.content; a
//                 chat choice's first chunk is {"role": "assistant", "content": ""}), the choice's
//                 last chunk with finish_reason "stop" / "length", with
//                 stream_options.include_usage one more chunk with "choices": [] and "usage", then
//                 the SSE terminator.
//   not streaming one object with every choice's whole text (or message), finish_reason and usage.
//   errors        {"error": {"message", "type", "param": null, "code"}} with the HTTP status of
//                 HttpStatusFor (gRPC's canonical code → 400/401/404/413/429/503/504/500).
//
// logprobs: completions' {tokens, token_logprobs, top_logprobs: [{text: logprob}], text_offset};
// chat's {content: [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
//
// Threads: values and pure functions; a Completion is used by one thread at a time.
#ifndef KVSERVE_SERVER_OPENAI_OPENAI_RESPONSE_H_
#define KVSERVE_SERVER_OPENAI_OPENAI_RESPONSE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/sched/finish_reason.h"
#include "engine/sched/logprobs.h"
#include "engine/sched/token_sink.h"
#include "engine/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "server/openai/openai_request.h"

namespace kvserve::openai {

// HTTP status for a canonical code: INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE 400;
// UNAUTHENTICATED 401; PERMISSION_DENIED 403; NOT_FOUND 404; RESOURCE_EXHAUSTED 429 (with
// `too_large`: 413); UNAVAILABLE 503; DEADLINE_EXCEEDED 504; CANCELLED 499; others 500.
int HttpStatusFor(absl::StatusCode code);
// {"error": {...}} for `status`; type names the class of error as OpenAI's do
// ("invalid_request_error", "authentication_error", "not_found_error", "rate_limit_error",
// "server_error", ...), code the gRPC code's name.
nlohmann::json ErrorBody(const absl::Status& status);

// "stop", "length", or null while generating.
nlohmann::json FinishReasonJson(FinishReason reason);

// What every chunk and body of one request repeats.
struct ResponseHeader {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string id;  // "cmpl-…" / "chatcmpl-…"
  int64_t created = 0;
  std::string model;
  bool logprobs = false;  // the request asked for logprobs
};

// One generated token of one choice, as the loop thread keeps it (SampleOutput's views copied).
struct TokenEvent {
  int32_t index = 0;
  int32_t token = 0;
  std::string text;
  FinishReason finish = FinishReason::kNone;
  bool has_logprobs = false;
  TokenLogprobs logprobs;
};

// A streaming chunk for one token (text may be empty on a choice's last, finishing token).
nlohmann::json TokenChunk(const ResponseHeader& header, const Tokenizer& tokenizer,
                          const TokenEvent& event);
// A chat choice's first chunk: delta {"role": "assistant", "content": ""}.
nlohmann::json RoleChunk(const ResponseHeader& header, int32_t index);
// The include_usage chunk: no choices, the request's usage.
nlohmann::json UsageChunk(const ResponseHeader& header, const Usage& usage);
nlohmann::json UsageJson(const Usage& usage);
// "data: <json>\n\n" and "data: [DONE]\n\n".
std::string SseEvent(const nlohmann::json& data);
inline constexpr char kSseDone[] = "data: [DONE]\n\n";

// A non-streaming reply, built from the token events as they come.
class Completion {
 public:
  Completion(ResponseHeader header, int32_t num_choices);
  void Add(const Tokenizer& tokenizer, const TokenEvent& event);
  nlohmann::json Body(const Usage& usage) const;

 private:
  struct Choice {
    std::string text;
    FinishReason finish = FinishReason::kNone;
    nlohmann::json logprobs_items = nlohmann::json::array();  // chat: content[]
    nlohmann::json tokens = nlohmann::json::array();          // completions: parallel arrays
    nlohmann::json token_logprobs = nlohmann::json::array();
    nlohmann::json top_logprobs = nlohmann::json::array();
    nlohmann::json text_offset = nlohmann::json::array();
  };
  ResponseHeader header_;
  std::vector<Choice> choices_;
};

}  // namespace kvserve::openai

#endif  // KVSERVE_SERVER_OPENAI_OPENAI_RESPONSE_H_
