#include "clients/chat_messages.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "kvserve/v1/kvserve.pb.h"
#include "nlohmann/json.hpp"

namespace kvserve {

v1::ChatMessage MakeChatMessage(std::string role, std::string content) {
  v1::ChatMessage message;
  message.set_role(std::move(role));
  message.set_content(std::move(content));
  return message;
}

absl::StatusOr<v1::ChatMessage> ParseRoleContent(absl::string_view text) {
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not ROLE:CONTENT (e.g. user:Hello)"));
  }
  const absl::string_view role = text.substr(0, colon);
  if (role.empty()) return absl::InvalidArgumentError(absl::StrCat("'", text, "' has no role"));
  for (char c : role) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("the role '", role, "' has whitespace (want ROLE:CONTENT)"));
    }
  }
  return MakeChatMessage(std::string(role), std::string(text.substr(colon + 1)));
}

absl::StatusOr<std::vector<v1::ChatMessage>> ParseChatMessagesJson(absl::string_view json) {
  const nlohmann::json doc =
      nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  const nlohmann::json* list = &doc;
  if (doc.is_object()) {
    const auto it = doc.find("messages");
    if (it == doc.end()) {
      return absl::InvalidArgumentError(
          "a JSON object without \"messages\" (want a list of "
          "{\"role\", \"content\"} objects)");
    }
    list = &*it;
  }
  if (!list->is_array()) {
    return absl::InvalidArgumentError(
        "not a JSON list of {\"role\": ..., \"content\": ...} objects");
  }
  if (list->empty()) return absl::InvalidArgumentError("the list of messages is empty");
  std::vector<v1::ChatMessage> messages;
  for (size_t i = 0; i < list->size(); ++i) {
    const nlohmann::json& item = (*list)[i];
    const auto bad = [i](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("message ", i, ": ", why));
    };
    if (!item.is_object()) return bad("not an object");
    for (const auto& [key, value] : item.items()) {
      if (key != "role" && key != "content") return bad(absl::StrCat("unknown key \"", key, "\""));
    }
    const auto role = item.find("role");
    const auto content = item.find("content");
    if (role == item.end() || !role->is_string()) return bad("\"role\" is missing or not a string");
    if (content == item.end() || !content->is_string()) {
      return bad("\"content\" is missing or not a string");
    }
    messages.push_back(MakeChatMessage(role->get<std::string>(), content->get<std::string>()));
  }
  return messages;
}

}  // namespace kvserve
