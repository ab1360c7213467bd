// PreTokenizer: splits text into the pieces BPE merges within, like a Hugging Face pre_tokenizer
// made of "Split" stages with behavior "Isolated": every match of a stage's pattern becomes a
// piece, and so does every non-empty run of text between matches. Stages apply in order, each to
// the pieces of the one before. No text is lost or reordered: the pieces concatenate to the input.
// HF's "Digits" stage is such a Split, with kDigitPattern or kDigitRunPattern below.
//
// Patterns are PCRE2 with UTF and UCP (so \p{L}, \p{N}, \s and (?i:...) follow Unicode, as HF's
// Oniguruma-based regexes do) and PCRE2_MATCH_INVALID_UTF: invalid UTF-8 in the text never
// matches and ends up in between-match pieces. Should PCRE2 fail on some text (e.g. a match
// limit), the rest of that piece stays one piece: the split differs, the text still round-trips.
//
// Threads: immutable after Create; Split may run on many threads at once (each call has its own
// match data).
#ifndef KVSERVE_ENGINE_TOKENIZER_PRETOKENIZER_H_
#define KVSERVE_ENGINE_TOKENIZER_PRETOKENIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvserve {

// GPT-2's pattern, which HF's ByteLevel pre-tokenizer applies when its use_regex is true.
inline constexpr char kGpt2SplitPattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// HF's Digits pre-tokenizer as a pattern: each character of Unicode category N (Rust's
// char::is_numeric: Nd, Nl, No) alone with individual_digits, or each run of them without. Which
// characters are N is PCRE2's Unicode tables' answer (Unicode 14 in Debian 12's PCRE2 10.42),
// which may lag Rust's for characters added since.
inline constexpr char kDigitPattern[] = R"(\p{N})";
inline constexpr char kDigitRunPattern[] = R"(\p{N}+)";

class PreTokenizer {
 public:
  struct Pattern {
    std::string text;
    bool literal = false;  // match `text` as a plain string (HF's {"String": ...} patterns)
  };

  // INVALID_ARGUMENT naming the pattern and PCRE2's message if one does not compile.
  static absl::StatusOr<PreTokenizer> Create(const std::vector<Pattern>& patterns);

  // Appends the pieces of `text` (views into it) to `*pieces`. With no stage, `text` is one piece
  // (none if empty).
  void Split(absl::string_view text, std::vector<absl::string_view>* pieces) const;

  size_t num_stages() const { return stages_.size(); }

 private:
  struct Compiled;
  void SplitOne(const Compiled& stage, absl::string_view text,
                std::vector<absl::string_view>* pieces) const;

  std::vector<std::shared_ptr<const Compiled>> stages_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_TOKENIZER_PRETOKENIZER_H_
