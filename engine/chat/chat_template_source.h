// Where a model's chat template comes from: its checkpoint directory, or the built-in default.
//
// As transformers loads them:
//   * the template is `chat_template.jinja` beside the tokenizer when that file exists (it
//     clobbers any template in the config), else tokenizer_config.json's "chat_template": a
//     string, or a list of {"name", "template"} objects of which the one named "default" is used;
//   * bos_token / eos_token are tokenizer_config.json's (a string, or an AddedToken object with a
//     "content" string), else special_tokens_map.json's, else unset.
// Files are read whole; nothing is cached.
//
// Threads: the functions are safe to call from any thread (they read files and keep no state).
#ifndef KVSERVE_ENGINE_CHAT_CHAT_TEMPLATE_SOURCE_H_
#define KVSERVE_ENGINE_CHAT_CHAT_TEMPLATE_SOURCE_H_

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvserve {

struct ChatSpecialTokens {
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
};

struct ChatTemplateSource {
  std::string text;    // the Jinja source
  std::string origin;  // for messages: "<dir>/chat_template.jinja" or "<dir>/tokenizer_config.json"
  ChatSpecialTokens tokens;
};

// The checkpoint's template and special tokens; nullopt when it has no template (the tokens are
// then still available from LoadChatSpecialTokens). NOT_FOUND when `checkpoint_dir` is not a
// directory; INVALID_ARGUMENT, naming the file and field, when a file is there but malformed
// (not JSON, a chat_template of the wrong type, a list without "default", a token of the wrong
// type); an unreadable file is an error too.
absl::StatusOr<std::optional<ChatTemplateSource>> LoadChatTemplate(
    const std::filesystem::path& checkpoint_dir);

// bos_token / eos_token alone (a checkpoint may have them without a template, e.g. when the
// template is given with --chat_template). Errors as LoadChatTemplate.
absl::StatusOr<ChatSpecialTokens> LoadChatSpecialTokens(
    const std::filesystem::path& checkpoint_dir);

// A template file given on its own (`--chat_template FILE`). NOT_FOUND when it does not exist.
absl::StatusOr<std::string> ReadChatTemplateFile(const std::filesystem::path& path);

// ChatML, for models without a template of their own (the embedded presets):
// "<|im_start|>{role}\n{content}<|im_end|>\n" per message, and "<|im_start|>assistant\n" as the
// generation prompt.
absl::string_view DefaultChatMlTemplate();

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_CHAT_CHAT_TEMPLATE_SOURCE_H_
