#include "engine/chat/chat_template.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/chat/jinja_callable.h"
#include "engine/chat/jinja_json.h"
#include "engine/chat/jinja_parser.h"

namespace kvserve {
namespace {

absl::Status Prefixed(const absl::Status& status) {
  if (status.ok() || jinja::IsRaisedError(status)) return status;
  return absl::Status(status.code(), absl::StrCat("chat template: ", status.message()));
}

}  // namespace

absl::StatusOr<ChatTemplate> ChatTemplate::Parse(absl::string_view source) {
  absl::StatusOr<std::unique_ptr<const jinja::Program>> program = jinja::ParseTemplate(source);
  if (!program.ok()) return Prefixed(program.status());
  return ChatTemplate(std::shared_ptr<const jinja::Program>(*std::move(program)));
}

absl::StatusOr<std::string> ChatTemplate::Render(absl::Span<const ChatMessage> messages,
                                                 const ChatRenderOptions& options) const {
  nlohmann::ordered_json json = nlohmann::ordered_json::array();
  for (const ChatMessage& message : messages) {
    json.push_back({{"role", message.role}, {"content", message.content}});
  }
  return RenderJson(json, options);
}

absl::StatusOr<std::string> ChatTemplate::RenderJson(const nlohmann::ordered_json& messages,
                                                     const ChatRenderOptions& options) const {
  if (!messages.is_array()) {
    return absl::InvalidArgumentError("chat template: messages must be a JSON array");
  }
  if (!options.extra_variables.is_object() && !options.extra_variables.is_null()) {
    return absl::InvalidArgumentError("chat template: extra_variables must be a JSON object");
  }
  jinja::Dict variables;
  variables.Set("messages", jinja::FromJson(messages));
  variables.Set("tools", jinja::Value::None());
  variables.Set("documents", jinja::Value::None());
  variables.Set("add_generation_prompt", jinja::Value::Bool(options.add_generation_prompt));
  if (options.bos_token) variables.Set("bos_token", jinja::Value::String(*options.bos_token));
  if (options.eos_token) variables.Set("eos_token", jinja::Value::String(*options.eos_token));
  if (options.extra_variables.is_object()) {
    for (const auto& [name, value] : options.extra_variables.items()) {
      variables.Set(name, jinja::FromJson(value));
    }
  }
  jinja::RenderEnvironment environment;
  environment.now = options.now.value_or(absl::Now());
  environment.time_zone = options.time_zone;
  environment.limits = options.limits;
  absl::StatusOr<std::string> text = jinja::RenderProgram(*program_, variables, environment);
  if (!text.ok()) return Prefixed(text.status());
  return text;
}

}  // namespace kvserve
