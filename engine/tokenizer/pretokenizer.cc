#include "engine/tokenizer/pretokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace kvserve {

struct PreTokenizer::Compiled {
  explicit Compiled(pcre2_code* c) : code(c) {}
  ~Compiled() { pcre2_code_free(code); }
  Compiled(const Compiled&) = delete;
  Compiled& operator=(const Compiled&) = delete;

  pcre2_code* const code;
};

namespace {

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

// The offset just past the character that starts at `pos` (one byte for an invalid lead).
size_t NextCharBoundary(absl::string_view text, size_t pos) {
  ++pos;
  while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
  return pos;
}

}  // namespace

absl::StatusOr<PreTokenizer> PreTokenizer::Create(const std::vector<Pattern>& patterns) {
  PreTokenizer out;
  for (const Pattern& p : patterns) {
    uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    if (p.literal) options |= PCRE2_LITERAL;
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.text.data()), p.text.size(),
                                     options, &error, &error_offset, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      return absl::InvalidArgumentError(absl::StrCat("pre-tokenizer pattern '", p.text,
                                                     "' does not compile at offset ", error_offset,
                                                     ": ", reinterpret_cast<const char*>(message)));
    }
    // JIT is an optimisation only: without it (unsupported CPU, no executable memory) pcre2_match
    // interprets the pattern.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    out.stages_.push_back(std::make_shared<const Compiled>(code));
  }
  return out;
}

void PreTokenizer::Split(absl::string_view text, std::vector<absl::string_view>* pieces) const {
  if (text.empty()) return;
  std::vector<absl::string_view> current = {text}, next;
  for (const auto& stage : stages_) {
    next.clear();
    for (absl::string_view piece : current) SplitOne(*stage, piece, &next);
    std::swap(current, next);
  }
  pieces->insert(pieces->end(), current.begin(), current.end());
}

void PreTokenizer::SplitOne(const Compiled& stage, absl::string_view text,
                            std::vector<absl::string_view>* pieces) const {
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(
      pcre2_match_data_create_from_pattern(stage.code, nullptr));
  if (match == nullptr) {  // out of memory: keep the text whole
    pieces->push_back(text);
    return;
  }
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t emitted = 0;  // text before this offset is in `pieces`
  size_t start = 0;    // where the next match attempt begins
  while (start <= text.size()) {
    const int rc = pcre2_match(stage.code, subject, text.size(), start, 0, match.get(), nullptr);
    if (rc < 0) break;  // no further match (or a PCRE2 error: the rest stays one piece)
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    const size_t begin = ovector[0], end = ovector[1];
    if (begin < emitted || end < begin || end > text.size()) break;  // \K tricks; not expected
    if (end == begin) {  // an empty match splits nothing; move on one character
      if (begin >= text.size()) break;
      start = NextCharBoundary(text, begin);
      continue;
    }
    if (begin > emitted) pieces->push_back(text.substr(emitted, begin - emitted));
    pieces->push_back(text.substr(begin, end - begin));
    emitted = end;
    start = end;
  }
  if (emitted < text.size()) pieces->push_back(text.substr(emitted));
}

}  // namespace kvserve
