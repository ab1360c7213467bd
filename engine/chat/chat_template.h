// Chat templates: a model's Jinja chat template, parsed once, rendered for each conversation.
//
// ChatTemplate::Parse lexes and parses the whole template up front, so anything this interpreter
// does not support (engine/chat/jinja_parser.h lists what is) is refused there, naming the
// construct and its line; the few failures only a render can see (a type error, a method that is
// not supported, a template's raise_exception) come from Render.
//
// Render gives the template the variables transformers' apply_chat_template gives it, rendered
// as jinja2's ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with
// loopcontrols would render them, byte for byte (tests/chat checks this against python3-jinja2):
//   messages               the conversation: a list of dicts (role, content and any other fields)
//   tools, documents       none
//   add_generation_prompt  ChatRenderOptions::add_generation_prompt
//   bos_token, eos_token   when set (a tokenizer without one leaves it undefined)
//   ...                    then every entry of extra_variables (enable_thinking, tools,
//                          date_string, ...), which override the above
// and the globals raise_exception(message) and strftime_now(format).
//
// Errors are INVALID_ARGUMENT "chat template: line N: <what>", except a template's own
// raise_exception(message), whose status message is exactly `message`, and the render limits
// (RESOURCE_EXHAUSTED, jinja_evaluator.h).
//
// Threads: a ChatTemplate is immutable once parsed; Render is const and may run on any number of
// threads at once. Copies are cheap and share the parsed template.
#ifndef KVSERVE_ENGINE_CHAT_CHAT_TEMPLATE_H_
#define KVSERVE_ENGINE_CHAT_CHAT_TEMPLATE_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/chat/jinja_ast.h"
#include "engine/chat/jinja_evaluator.h"
#include "nlohmann/json.hpp"

namespace kvserve {

// A plain message. Messages with more fields (tool_calls, reasoning_content, content parts) go
// through ChatTemplate::RenderJson.
struct ChatMessage {
  std::string role;
  std::string content;
};

struct ChatRenderOptions {
  bool add_generation_prompt = true;
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  // strftime_now()'s clock (unset: the current time) and time zone (transformers uses the
  // process's local time).
  std::optional<absl::Time> now;
  absl::TimeZone time_zone = absl::LocalTimeZone();
  // More template variables: a JSON object (or null), e.g. {"enable_thinking": false}.
  nlohmann::ordered_json extra_variables = nlohmann::ordered_json::object();
  jinja::RenderLimits limits;
};

class ChatTemplate {
 public:
  // INVALID_ARGUMENT "chat template: line N: ..." when the template does not parse or uses
  // something unsupported.
  static absl::StatusOr<ChatTemplate> Parse(absl::string_view source);

  absl::StatusOr<std::string> Render(absl::Span<const ChatMessage> messages,
                                     const ChatRenderOptions& options) const;
  // `messages` is a JSON array of message objects with any fields, as transformers takes them.
  absl::StatusOr<std::string> RenderJson(const nlohmann::ordered_json& messages,
                                         const ChatRenderOptions& options) const;

 private:
  explicit ChatTemplate(std::shared_ptr<const jinja::Program> program)
      : program_(std::move(program)) {}

  std::shared_ptr<const jinja::Program> program_;  // never null
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_CHAT_CHAT_TEMPLATE_H_
