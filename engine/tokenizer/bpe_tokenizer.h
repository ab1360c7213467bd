// BpeTokenizer: a Hugging Face `tokenizer.json` with a byte-level BPE model (GPT-2, GPT-NeoX,
// Llama-3, Qwen2, StarCoder, DeepSeek, Command-R and their kin), implementing the Tokenizer
// interface. It encodes as HF's tokenizers library does; tests/tokenizer/ checks that against the
// test vectors llama.cpp ships for real vocabularies.
//
// What is read from tokenizer.json:
//   model          type "BPE"; vocab (strings → ids, see byte_level.h); merges, each "a b" or
//                  ["a", "b"], rank = position; ignore_merges (Llama-3: a piece that is itself in
//                  the vocabulary is one token); unk_token and fuse_unk (used only for bytes
//                  without a token, below). continuing_subword_prefix and end_of_word_suffix must
//                  be unset; dropout is ignored.
//   added_tokens   {id, content, special}: matched in the text before pre-tokenization (leftmost,
//                  then longest), each becoming its id. Special ones decode to nothing; the others
//                  decode to their content. lstrip/rstrip/normalized/single_word are not applied.
//   pre_tokenizer  ByteLevel (use_regex → GPT-2's pattern; add_prefix_space), Split with a Regex
//                  or String pattern and behavior "Isolated", Digits (individual_digits true:
//                  every \p{N} character alone; false: runs of them; before any ByteLevel), or a
//                  Sequence of those; at least one ByteLevel is required (byte-level BPE).
//   normalizer     null, NFC, or a Sequence of those (accepted but not applied: text that is
//                  already NFC, which is nearly all text, tokenizes the same).
//   decoder        null or ByteLevel.
//   post_processor not applied: BOS is added only when the caller asks (Encode(text, add_bos)).
// Anything else is refused with INVALID_ARGUMENT naming the file and the field.
//
// The vocabulary, as in HF, is keyed by the entry's string. BPE starts from the byte-level
// spelling of each byte (byte_level.h), and merging "a" with "b" gives the entry "ab" — the
// concatenated strings, never an entry found by its bytes: a vocabulary may hold an entry spelled
// as raw text ("\u200d") beside the byte-level spelling of the same bytes ("âĢį"); BPE only ever
// produces the latter (Command-R has 43 such pairs). Whole-piece look-ups (ignore_merges, one-byte
// pieces) are by the piece's byte-level spelling too.
//
// Bytes without a token: a byte that occurs in the UTF-8 of any assigned character must have a
// single-byte entry, or the file is refused (not a byte-level vocabulary). The others may lack
// one: 0xC0, 0xC1 and 0xF5..0xFF, which never occur in UTF-8 (GPT-NeoX, Pythia, MPT, DeepSeek
// lack them), and 0xF1, 0xF2, which lead only the empty planes 4..11 (StarCoder lacks 0xF1). In
// input such a byte becomes model.unk_token's id if unk_token names an entry of model.vocab
// (consecutive ones a single unk with fuse_unk), and is otherwise dropped, its neighbours then
// merging as if adjacent: what HF's BPE model does with a character that has no entry. So
// Decode(Encode(s)) == s does not hold for such input with such a vocabulary.
//
// Encoding: special-token split, then the pre-tokenizer's pieces, then BPE within each piece over
// its bytes (lowest-rank adjacent pair first, leftmost on ties: HF's algorithm). Decoding: each
// id's bytes (Tokenizer::AppendTokenBytes) — a token may hold part of a UTF-8 character.
//
// Threads: immutable after Create; every method is const and safe from any thread at once.
#ifndef KVSERVE_ENGINE_TOKENIZER_BPE_TOKENIZER_H_
#define KVSERVE_ENGINE_TOKENIZER_BPE_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/pretokenizer.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvserve {

class BpeTokenizer final : public Tokenizer {
 public:
  // Which ids are BOS and EOS is the model's business (config.json), not tokenizer.json's; -1 for
  // none. They must be ids of the vocabulary if set.
  struct SpecialIds {
    int32_t bos_token_id = -1;
    int32_t eos_token_id = -1;
  };

  // `json_text` is the contents of tokenizer.json; `file_name` names it in errors.
  static absl::StatusOr<std::unique_ptr<BpeTokenizer>> Create(absl::string_view json_text,
                                                              absl::string_view file_name,
                                                              SpecialIds special_ids);

  void EncodeTo(absl::string_view text, bool add_bos, std::vector<int32_t>* ids) const override;
  void AppendTokenBytes(int32_t id, std::string* bytes) const override;
  bool IsSpecial(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos_token_id() const override { return special_ids_.bos_token_id; }
  int32_t eos_token_id() const override { return special_ids_.eos_token_id; }
  std::string Describe() const override;

  // The pre-tokenized pieces of `text` (no added-token matching), for tests and debugging.
  std::vector<std::string> PreTokenize(absl::string_view text) const;
  // The id of the vocabulary entry spelled ByteLevelEncode(bytes) (`bytes` are raw bytes); -1 if
  // none. An entry spelled as raw text is not found here.
  int32_t TokenId(absl::string_view bytes) const;
  int32_t num_merges() const { return static_cast<int32_t>(merges_.size()); }

 private:
  struct Token {
    std::string bytes;  // what the id decodes to (empty for unassigned ids)
    bool special = false;
    bool assigned = false;
  };
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  struct AddedToken {
    std::string content;
    int32_t id;
  };
  class Builder;

  BpeTokenizer() = default;

  // Appends the ids of one pre-tokenized piece.
  void EncodePiece(absl::string_view piece, std::vector<int32_t>* ids) const;
  // The pre-tokenizer's pieces of `text` (after add_prefix_space, kept in `*storage`).
  void SplitPieces(absl::string_view text, std::string* storage,
                   std::vector<absl::string_view>* pieces) const;
  // Appends the ids of text that holds no added token.
  void EncodeOrdinary(absl::string_view text, std::vector<int32_t>* ids) const;
  // The added token starting at text[pos] (longest first), or nullptr.
  const AddedToken* AddedTokenAt(absl::string_view text, size_t pos) const;

  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  std::vector<Token> tokens_;  // by id
  // The bytes of each entry spelled in the byte-level alphabet → id; the same as looking up
  // ByteLevelEncode(bytes) by string, without re-encoding.
  absl::flat_hash_map<std::string, int32_t> by_bytes_;
  std::array<int32_t, 256> byte_ids_{};  // the single-byte entries; -1: none (see the top)
  int32_t num_bytes_without_token_ = 0;
  int32_t unk_id_ = -1;  // model.unk_token's id, for bytes without a token; -1: drop them
  bool fuse_unk_ = false;
  absl::flat_hash_map<uint64_t, Merge> merges_;  // PairKey(left, right) → merge
  // Added tokens by their first byte, longest first.
  std::array<std::vector<AddedToken>, 256> added_by_first_byte_;
  int32_t num_added_ = 0;
  PreTokenizer pre_tokenizer_;
  bool add_prefix_space_ = false;
  bool ignore_merges_ = false;
  SpecialIds special_ids_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_TOKENIZER_BPE_TOKENIZER_H_
