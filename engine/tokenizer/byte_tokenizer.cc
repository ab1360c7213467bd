#include "engine/tokenizer/byte_tokenizer.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace kvserve {

absl::StatusOr<ByteTokenizer> ByteTokenizer::Create(const ByteVocab& vocab) {
  if (vocab.vocab_size <= ByteVocab::kNumByteTokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocab_size must be > ", ByteVocab::kNumByteTokens,
                     " for a byte vocabulary with special tokens, got ", vocab.vocab_size));
  }
  const std::pair<int32_t, const char*> specials[] = {{vocab.bos_token_id, "bos_token_id"},
                                                      {vocab.eos_token_id, "eos_token_id"},
                                                      {vocab.pad_token_id, "pad_token_id"}};
  for (const auto& [id, field] : specials) {
    if (id < ByteVocab::kNumByteTokens || id >= vocab.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " ", id, " must be in [", ByteVocab::kNumByteTokens, ", ", vocab.vocab_size, ")"));
    }
  }
  if (vocab.bos_token_id == vocab.eos_token_id || vocab.bos_token_id == vocab.pad_token_id ||
      vocab.eos_token_id == vocab.pad_token_id) {
    return absl::InvalidArgumentError(absl::StrCat("special token ids must be distinct, got bos ",
                                                   vocab.bos_token_id, " eos ", vocab.eos_token_id,
                                                   " pad ", vocab.pad_token_id));
  }
  return ByteTokenizer(vocab);
}

ByteTokenizer::ByteTokenizer() : vocab_(ByteVocab{}) {}

void ByteTokenizer::EncodeTo(absl::string_view text, bool add_bos,
                             std::vector<int32_t>* ids) const {
  ids->reserve(ids->size() + text.size() + (add_bos ? 1 : 0));
  if (add_bos) ids->push_back(vocab_.bos_token_id);
  for (char c : text) ids->push_back(static_cast<int32_t>(static_cast<unsigned char>(c)));
}

std::string ByteTokenizer::Describe() const {
  return absl::StrCat("byte-level, ", vocab_.vocab_size, " ids");
}

}  // namespace kvserve
