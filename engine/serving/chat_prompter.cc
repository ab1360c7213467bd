#include "engine/serving/chat_prompter.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kvserve {

absl::StatusOr<std::shared_ptr<const ChatPrompter>> ChatPrompter::Create(
    const ChatTemplateSource& source, std::shared_ptr<const Tokenizer> tokenizer) {
  if (tokenizer == nullptr) return absl::InvalidArgumentError("ChatPrompter needs a tokenizer");
  absl::StatusOr<ChatTemplate> parsed = ChatTemplate::Parse(source.text);
  if (!parsed.ok()) {
    return absl::Status(parsed.status().code(),
                        absl::StrCat(source.origin, ": ", parsed.status().message()));
  }
  return std::shared_ptr<const ChatPrompter>(
      new ChatPrompter(*std::move(parsed), source.tokens, source.origin, std::move(tokenizer)));
}

ChatPrompter::ChatPrompter(ChatTemplate chat_template, ChatSpecialTokens tokens, std::string origin,
                           std::shared_ptr<const Tokenizer> tokenizer)
    : template_(std::move(chat_template)),
      tokens_(std::move(tokens)),
      origin_(std::move(origin)),
      tokenizer_(std::move(tokenizer)) {
  if (tokens_.eos_token.has_value() && !tokens_.eos_token->empty()) {
    const std::vector<int32_t> ids = tokenizer_->Encode(*tokens_.eos_token);
    if (ids.size() == 1) {
      end_of_turn_ids_.push_back(ids[0]);
    } else {
      end_of_turn_strings_.push_back(*tokens_.eos_token);
    }
  }
}

absl::StatusOr<RenderedChatPrompt> ChatPrompter::Render(absl::Span<const ChatMessage> messages,
                                                        bool add_generation_prompt) const {
  if (messages.empty()) {
    return absl::InvalidArgumentError("chat.messages is empty; give at least one message");
  }
  ChatRenderOptions options;
  options.add_generation_prompt = add_generation_prompt;
  options.bos_token = tokens_.bos_token;
  options.eos_token = tokens_.eos_token;
  absl::StatusOr<std::string> text = template_.Render(messages, options);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("chat: the chat template refused the messages: ", text.status().message()));
  }
  RenderedChatPrompt rendered;
  rendered.text = *std::move(text);
  tokenizer_->EncodeTo(rendered.text, /*add_bos=*/false, &rendered.ids);
  return rendered;
}

}  // namespace kvserve
