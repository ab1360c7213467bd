// Chat messages for kvctl chat and kvload --chat, from the command line or from JSON.
//
//   ParseRoleContent      "role:content" (--message) → a message; the role is everything before
//                         the first ':' (non-empty, no whitespace), the content everything after
//                         it, taken as typed (no escapes: a shell's $'...' gives real newlines).
//   ParseChatMessagesJson a JSON list of {"role": "...", "content": "..."} objects, or an object
//                         whose "messages" is such a list (an OpenAI request body); every item
//                         must have both as strings and no other key. At least one message.
//
// Threads: pure functions.
#ifndef KVSERVE_CLIENTS_CHAT_MESSAGES_H_
#define KVSERVE_CLIENTS_CHAT_MESSAGES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve {

v1::ChatMessage MakeChatMessage(std::string role, std::string content);

absl::StatusOr<v1::ChatMessage> ParseRoleContent(absl::string_view text);

absl::StatusOr<std::vector<v1::ChatMessage>> ParseChatMessagesJson(absl::string_view json);

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_CHAT_MESSAGES_H_
