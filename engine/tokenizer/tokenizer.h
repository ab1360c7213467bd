// Tokenizer: what the server needs of a vocabulary, whichever kind it is.
//
// Implemented by ByteTokenizer (the embedded presets: one id per byte) and BpeTokenizer (a Hugging
// Face tokenizer.json: byte-level BPE). The contract every implementation keeps:
//   * EncodeTo(text) appends ids inside [0, vocab_size()); it never fails (any byte string has an
//     encoding, invalid UTF-8 included).
//   * AppendTokenBytes(id) appends the bytes `id` stands for: nothing for special tokens (BOS, EOS,
//     control tokens) and for ids outside the vocabulary. A token's bytes need not be valid UTF-8
//     on their own (byte-level BPE splits characters); streaming to clients therefore feeds them
//     to a Utf8StreamDecoder, which holds back a character split across tokens.
//   * Decode(Encode(s)) == s for every byte string s that contains no special token's text, with
//     one exception: a BPE vocabulary without tokens for bytes that no assigned character's UTF-8
//     contains (GPT-NeoX's lacks 0xC0, 0xC1, 0xF5..0xFF) drops or unk-encodes them
//     (bpe_tokenizer.h).
//
// Threads: implementations are immutable after construction; every method is const and safe to
// call from any thread at once.
#ifndef KVSERVE_ENGINE_TOKENIZER_TOKENIZER_H_
#define KVSERVE_ENGINE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kvserve {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Appends the ids of `text` to `*ids`, preceded by BOS if `add_bos` and the vocabulary has one.
  virtual void EncodeTo(absl::string_view text, bool add_bos, std::vector<int32_t>* ids) const = 0;
  // Appends the bytes of token `id` to `*bytes` (nothing for special and unknown ids).
  virtual void AppendTokenBytes(int32_t id, std::string* bytes) const = 0;
  // True for ids inside the vocabulary that stand for no text (BOS, EOS, PAD, control tokens).
  virtual bool IsSpecial(int32_t id) const = 0;

  // Ids are in [0, vocab_size()). The model's vocabulary may be larger (padded embeddings).
  virtual int32_t vocab_size() const = 0;
  // -1 when the vocabulary has no such token.
  virtual int32_t bos_token_id() const = 0;
  virtual int32_t eos_token_id() const = 0;

  // A short human-readable description, e.g. "byte-level, 259 ids".
  virtual std::string Describe() const = 0;

  std::vector<int32_t> Encode(absl::string_view text, bool add_bos = false) const {
    std::vector<int32_t> ids;
    EncodeTo(text, add_bos, &ids);
    return ids;
  }
  // The concatenated bytes of `ids`.
  std::string Decode(absl::Span<const int32_t> ids) const {
    std::string text;
    DecodeTo(ids, &text);
    return text;
  }
  void DecodeTo(absl::Span<const int32_t> ids, std::string* text) const {
    for (int32_t id : ids) AppendTokenBytes(id, text);
  }
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_TOKENIZER_TOKENIZER_H_
