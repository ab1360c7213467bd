// ChatPrompter: a model's chat template and tokenizer together: chat messages → the prompt text
// and ids a chat request generates from, and what ends the assistant's turn.
//
//   * Render renders the template with the model's bos/eos token texts (ChatTemplate, as
//     transformers' apply_chat_template does) and encodes the text with the tokenizer WITHOUT
//     adding BOS: the template writes whatever special tokens it wants as text (e.g. "{{
//     bos_token }}"), and the tokenizer matches special-token text as those tokens — which is
//     apply_chat_template(tokenize=True)'s add_special_tokens=False.
//   * The end of the assistant's turn is the template's eos_token: if its text encodes to one
//     token, that id joins the request's stop ids (e.g. <|im_end|>, <|eot_id|>); otherwise (the
//     byte-level presets, where "<|im_end|>" is ten bytes) the text joins its stop strings.
//   * Without a chat template of its own, a checkpoint has no ChatPrompter (chat requests are
//     FAILED_PRECONDITION), unless one is given (--chat_template FILE). The embedded presets get
//     ChatML (DefaultChatMlTemplate) with eos_token "<|im_end|>".
//
// Threads: immutable after Create; Render is const and safe from any number of threads.
#ifndef KVSERVE_ENGINE_SERVING_CHAT_PROMPTER_H_
#define KVSERVE_ENGINE_SERVING_CHAT_PROMPTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/chat/chat_template.h"
#include "engine/chat/chat_template_source.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvserve {

// ChatML's end of turn: the eos_token of the built-in template (and of a --chat_template given
// to a preset, which has no tokenizer_config.json of its own).
inline constexpr char kChatMlEndOfTurn[] = "<|im_end|>";

struct RenderedChatPrompt {
  std::string text;
  std::vector<int32_t> ids;
};

class ChatPrompter {
 public:
  // Parses `source.text` (INVALID_ARGUMENT naming `source.origin` and the template's line when
  // it uses something unsupported).
  static absl::StatusOr<std::shared_ptr<const ChatPrompter>> Create(
      const ChatTemplateSource& source, std::shared_ptr<const Tokenizer> tokenizer);

  // INVALID_ARGUMENT "chat.messages ..." for no messages; the template's own errors (its
  // raise_exception message, e.g. "Conversation roles must alternate ...") as INVALID_ARGUMENT.
  absl::StatusOr<RenderedChatPrompt> Render(absl::Span<const ChatMessage> messages,
                                            bool add_generation_prompt) const;

  const std::vector<int32_t>& end_of_turn_ids() const { return end_of_turn_ids_; }
  const std::vector<std::string>& end_of_turn_strings() const { return end_of_turn_strings_; }
  const std::string& origin() const { return origin_; }

 private:
  ChatPrompter(ChatTemplate chat_template, ChatSpecialTokens tokens, std::string origin,
               std::shared_ptr<const Tokenizer> tokenizer);

  const ChatTemplate template_;
  const ChatSpecialTokens tokens_;
  const std::string origin_;
  const std::shared_ptr<const Tokenizer> tokenizer_;
  std::vector<int32_t> end_of_turn_ids_;
  std::vector<std::string> end_of_turn_strings_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SERVING_CHAT_PROMPTER_H_
