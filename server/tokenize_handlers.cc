#include "server/tokenize_handlers.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/tokenizer/utf8_stream_decoder.h"

namespace kvserve {

std::string ValidUtf8(absl::string_view bytes) {
  std::string text;
  Utf8StreamDecoder decoder;
  decoder.FeedBytesTo(bytes, &text);
  decoder.FlushTo(&text);
  return text;
}

std::string TokenText(const Tokenizer& tokenizer, int32_t id) {
  std::string bytes;
  tokenizer.AppendTokenBytes(id, &bytes);
  return ValidUtf8(bytes);
}

void ToProto(const Tokenizer& tokenizer, const TokenLogprobs& logprobs, v1::TokenLogprob* out) {
  out->set_token_id(logprobs.token);
  out->set_text(TokenText(tokenizer, logprobs.token));
  out->set_logprob(logprobs.logprob);
  out->set_rank(logprobs.rank);
  for (int32_t k = 0; k < logprobs.num_top; ++k) {
    v1::TopLogprob* top = out->add_top();
    top->set_token_id(logprobs.top[k].token);
    top->set_text(TokenText(tokenizer, logprobs.top[k].token));
    top->set_logprob(logprobs.top[k].logprob);
  }
}

absl::Status Tokenize(const Tokenizer& tokenizer, const v1::TokenizeRequest& request,
                      v1::TokenizeResponse* response) {
  std::vector<int32_t> ids;
  tokenizer.EncodeTo(request.text(), request.add_special_tokens(), &ids);
  response->mutable_token_ids()->Add(ids.begin(), ids.end());
  for (int32_t id : ids) response->add_pieces(TokenText(tokenizer, id));
  return absl::OkStatus();
}

absl::Status Detokenize(const Tokenizer& tokenizer, int32_t vocab_size,
                        const v1::DetokenizeRequest& request, v1::DetokenizeResponse* response) {
  const auto& ids = request.token_ids();
  for (int i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token_ids[", i, "] is ", ids[i], ", outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  std::string bytes;
  tokenizer.DecodeTo(absl::MakeConstSpan(ids.data(), ids.size()), &bytes);
  response->set_text(ValidUtf8(bytes));
  return absl::OkStatus();
}

}  // namespace kvserve
