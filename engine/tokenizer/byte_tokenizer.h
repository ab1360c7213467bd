// ByteTokenizer: the byte-level vocabulary of the embedded models.
//
// Ids 0..255 are the bytes 0x00..0xFF; ids 256.. are special tokens (BOS, EOS, PAD) that have no
// text. What it promises:
//   * Encode(text) yields exactly one id per byte of `text` (BOS first only if asked for).
//   * Decode(ids) yields the bytes of the byte ids in order; special ids and ids outside the
//     vocabulary produce no text.
//   * Decode(Encode(s)) == s for every byte string s, including invalid UTF-8 and NUL bytes: the
//     tokenizer never validates or rewrites text. (Streaming to clients, which needs valid UTF-8,
//     is Utf8StreamDecoder's job.)
//
// The special ids come from a ByteVocab, not from ModelConfig, so the tokenizer can be built and
// tested without a model; the server fills a ByteVocab from the loaded model's config.
//
// Implements the Tokenizer interface (engine/tokenizer/tokenizer.h), so the server treats it like
// any other vocabulary.
//
// Threads: immutable after construction; every method is const and safe to call from any thread.
#ifndef KVSERVE_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_
#define KVSERVE_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvserve {

// The special ids of a byte-level vocabulary. The defaults are the embedded presets' (see
// PresetConfig): 256 BOS, 257 EOS, 258 PAD, 259 ids in all.
struct ByteVocab {
  static constexpr int32_t kNumByteTokens = 256;

  int32_t bos_token_id = 256;
  int32_t eos_token_id = 257;
  int32_t pad_token_id = 258;
  int32_t vocab_size = 259;
};

class ByteTokenizer final : public Tokenizer {
 public:
  // INVALID_ARGUMENT unless every special id is distinct and inside [256, vocab_size).
  static absl::StatusOr<ByteTokenizer> Create(const ByteVocab& vocab);
  // The embedded presets' vocabulary (ByteVocab{}).
  ByteTokenizer();

  // One id per byte of `text` (Tokenizer::Encode), preceded by BOS if `add_bos`. Appends to `*ids`
  // (reuses its capacity).
  void EncodeTo(absl::string_view text, bool add_bos, std::vector<int32_t>* ids) const override;
  // The byte of a byte id; every other id produces nothing (Tokenizer::Decode uses this).
  void AppendTokenBytes(int32_t id, std::string* bytes) const override {
    if (IsByte(id)) bytes->push_back(static_cast<char>(static_cast<unsigned char>(id)));
  }

  // True for ids 0..255.
  static bool IsByte(int32_t id) { return id >= 0 && id < ByteVocab::kNumByteTokens; }
  // True for ids inside the vocabulary that are not bytes (BOS, EOS, PAD, any reserved id).
  bool IsSpecial(int32_t id) const override {
    return id >= ByteVocab::kNumByteTokens && id < vocab_.vocab_size;
  }

  int32_t bos_token_id() const override { return vocab_.bos_token_id; }
  int32_t eos_token_id() const override { return vocab_.eos_token_id; }
  int32_t pad_token_id() const { return vocab_.pad_token_id; }
  int32_t vocab_size() const override { return vocab_.vocab_size; }
  std::string Describe() const override;
  const ByteVocab& vocab() const { return vocab_; }

 private:
  explicit ByteTokenizer(const ByteVocab& vocab) : vocab_(vocab) {}

  ByteVocab vocab_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_TOKENIZER_BYTE_TOKENIZER_H_
