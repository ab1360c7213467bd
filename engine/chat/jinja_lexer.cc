#include "engine/chat/jinja_lexer.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/chat/jinja_text.h"

namespace kvserve::jinja {
namespace {

absl::Status LexError(int line, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", message));
}

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Python's `\s` (str patterns): the length of the whitespace code point at `pos`, 0 if none.
size_t SpaceAt(absl::string_view s, size_t pos) {
  if (pos >= s.size()) return 0;
  size_t len;
  return IsPySpace(DecodeCodePoint(s, pos, &len)) ? len : 0;
}

size_t SkipSpaces(absl::string_view s, size_t pos) {
  while (size_t len = SpaceAt(s, pos)) pos += len;
  return pos;
}

bool OnlySpaces(absl::string_view s) { return SkipSpaces(s, 0) == s.size(); }

// Python's str.rstrip().
absl::string_view RStripSpaces(absl::string_view s) {
  std::vector<size_t> offsets = CodePointOffsets(s);
  size_t last = offsets.size() - 1;
  size_t len;
  while (last > 0 && IsPySpace(DecodeCodePoint(s, offsets[last - 1], &len))) --last;
  return s.substr(0, offsets[last]);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's unicode-escape decoding of a string literal's body.
absl::StatusOr<std::string> DecodeEscapes(absl::string_view body, int line) {
  std::string out;
  out.reserve(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != '\\' || i + 1 == body.size()) {
      out.push_back(body[i]);
      continue;
    }
    const char c = body[++i];
    switch (c) {
      case '\n':
        break;  // a line continuation
      case '\\':
      case '\'':
      case '"':
        out.push_back(c);
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'x':
      case 'u':
      case 'U': {
        const size_t digits = c == 'x' ? 2 : (c == 'u' ? 4 : 8);
        uint32_t cp = 0;
        for (size_t k = 1; k <= digits; ++k) {
          const int h = i + k < body.size() ? HexValue(body[i + k]) : -1;
          if (h < 0) {
            return LexError(line, absl::StrCat("truncated \\", std::string(1, c), " escape"));
          }
          cp = cp * 16 + static_cast<uint32_t>(h);
        }
        if (cp > 0x10ffff) return LexError(line, "\\U escape beyond U+10FFFF");
        AppendUtf8(cp, &out);
        i += digits;
        break;
      }
      case 'N':
        return LexError(line, "\\N{...} escapes are not supported");
      default:
        if (c >= '0' && c <= '7') {
          uint32_t cp = 0;
          size_t k = 0;
          while (k < 3 && i + k < body.size() && body[i + k] >= '0' && body[i + k] <= '7') {
            cp = cp * 8 + static_cast<uint32_t>(body[i + k] - '0');
            ++k;
          }
          AppendUtf8(cp, &out);
          i += k - 1;
        } else {
          out.push_back('\\');  // unknown escapes stay as written
          out.push_back(c);
        }
    }
  }
  return out;
}

class Lexer {
 public:
  Lexer(absl::string_view source, const LexerOptions& options) : options_(options) {
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_.push_back('\n');
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_.push_back(source[i]);
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
  }

  absl::StatusOr<std::vector<Token>> Run() {
    while (pos_ < src_.size()) {
      absl::Status status = LexTemplateData();
      if (!status.ok()) return status;
    }
    Emit(TokenKind::kEof, "", line_);
    return std::move(tokens_);
  }

 private:
  enum class Tag { kVariable, kBlock, kComment };

  // Moves to `to`, counting the newlines passed.
  void AdvanceTo(size_t to) {
    line_ += static_cast<int>(std::count(src_.begin() + pos_, src_.begin() + to, '\n'));
    pos_ = to;
  }

  void Emit(TokenKind kind, std::string text, int line) {
    Token token;
    token.kind = kind;
    token.text = std::move(text);
    token.line = line;
    tokens_.push_back(std::move(token));
  }

  // The text before a tag, after `{%-` / lstrip_blocks handling.
  void EmitData(absl::string_view text, int line, char modifier, bool lstrip) {
    if (modifier == '-') {
      text = RStripSpaces(text);
    } else if (modifier != '+' && lstrip && options_.lstrip_blocks) {
      const size_t line_start = text.rfind('\n') + 1;  // npos + 1 == 0
      if ((line_start > 0 || line_starting_) && line_start < text.size() &&
          OnlySpaces(text.substr(line_start))) {
        text = text.substr(0, line_start);
      }
    }
    if (!text.empty()) Emit(TokenKind::kText, std::string(text), line);
  }

  size_t FindTagStart(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return std::string::npos;
  }

  // `{% raw %}` (with optional modifiers) at `at`: the position after its `%}`, if it is one.
  std::optional<size_t> MatchRawBegin(size_t at, bool* strip_after) const {
    size_t p = at + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    p = SkipSpaces(src_, p);
    if (src_.compare(p, 3, "raw") != 0) return std::nullopt;
    p = SkipSpaces(src_, p + 3);
    if (src_.compare(p, 3, "-%}") == 0) {
      *strip_after = true;
      return p + 3;
    }
    if (src_.compare(p, 2, "%}") == 0) {
      *strip_after = false;
      return p + 2;
    }
    return std::nullopt;
  }

  absl::Status LexTemplateData() {
    const size_t start = FindTagStart(pos_);
    const int text_line = line_;
    if (start == std::string::npos) {
      Emit(TokenKind::kText, src_.substr(pos_), text_line);
      AdvanceTo(src_.size());
      return absl::OkStatus();
    }
    const char opener = src_[start + 1];
    const Tag tag = opener == '{' ? Tag::kVariable : (opener == '%' ? Tag::kBlock : Tag::kComment);
    char modifier = 0;
    if (start + 2 < src_.size() && (src_[start + 2] == '-' || src_[start + 2] == '+')) {
      modifier = src_[start + 2];
    }
    const absl::string_view text = absl::string_view(src_).substr(pos_, start - pos_);
    EmitData(text, text_line, modifier, tag != Tag::kVariable);
    AdvanceTo(start);
    const int tag_line = line_;

    bool strip_after = false;
    if (tag == Tag::kBlock) {
      if (std::optional<size_t> after = MatchRawBegin(start, &strip_after)) {
        AdvanceTo(*after);
        return LexRaw(tag_line, strip_after);
      }
    }
    AdvanceTo(start + 2 + (modifier ? 1 : 0));
    if (tag == Tag::kComment) return LexComment(tag_line);
    Emit(tag == Tag::kVariable ? TokenKind::kVariableBegin : TokenKind::kBlockBegin,
         tag == Tag::kVariable ? "{{" : "{%", tag_line);
    return LexTag(tag, tag_line);
  }

  // After `{% raw %}`: everything up to `{% endraw %}` is text.
  absl::Status LexRaw(int raw_line, bool strip_after) {
    if (strip_after) AdvanceTo(SkipSpaces(src_, pos_));
    line_starting_ = pos_ > 0 && src_[pos_ - 1] == '\n';
    for (size_t at = src_.find("{%", pos_); at != std::string::npos; at = src_.find("{%", at + 1)) {
      size_t p = at + 2;
      char modifier = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) modifier = src_[p++];
      p = SkipSpaces(src_, p);
      if (src_.compare(p, 6, "endraw") != 0) continue;
      p = SkipSpaces(src_, p + 6);
      size_t end;
      if (src_.compare(p, 3, "+%}") == 0) {
        end = p + 3;
      } else if (src_.compare(p, 3, "-%}") == 0) {
        end = SkipSpaces(src_, p + 3);
      } else if (src_.compare(p, 2, "%}") == 0) {
        end = p + 2;
        if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
      } else {
        continue;
      }
      EmitData(absl::string_view(src_).substr(pos_, at - pos_), line_, modifier, true);
      AdvanceTo(end);
      line_starting_ = src_[end - 1] == '\n';
      return absl::OkStatus();
    }
    return LexError(raw_line, "'{% raw %}' is never closed by '{% endraw %}'");
  }

  absl::Status LexComment(int comment_line) {
    const size_t close = src_.find("#}", pos_);
    if (close == std::string::npos) return LexError(comment_line, "comment '{#' is never closed");
    size_t end = close + 2;
    const char modifier = close > pos_ ? src_[close - 1] : 0;
    if (modifier == '-') {
      end = SkipSpaces(src_, end);
    } else if (modifier != '+' && options_.trim_blocks && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    AdvanceTo(end);
    line_starting_ = src_[end - 1] == '\n';
    return absl::OkStatus();
  }

  // The end delimiter at pos_ (brackets balanced), if any: the position after it and its
  // trailing whitespace handling.
  std::optional<size_t> MatchTagEnd(Tag tag) const {
    const absl::string_view rest = absl::string_view(src_).substr(pos_);
    const absl::string_view close = tag == Tag::kVariable ? "}}" : "%}";
    if (rest.size() >= 3 && rest[0] == '-' && rest.substr(1, 2) == close) {
      return SkipSpaces(src_, pos_ + 3);
    }
    if (tag == Tag::kBlock && rest.size() >= 3 && rest[0] == '+' && rest.substr(1, 2) == close) {
      return pos_ + 3;
    }
    if (rest.substr(0, 2) == close) {
      size_t end = pos_ + 2;
      if (tag == Tag::kBlock && options_.trim_blocks && end < src_.size() && src_[end] == '\n') {
        ++end;
      }
      return end;
    }
    return std::nullopt;
  }

  absl::Status LexTag(Tag tag, int tag_line) {
    std::vector<char> brackets;  // the closers expected, innermost last
    while (true) {
      if (pos_ >= src_.size()) {
        return LexError(
            tag_line, absl::StrCat("'", tag == Tag::kVariable ? "{{" : "{%", "' is never closed"));
      }
      if (brackets.empty()) {
        if (std::optional<size_t> end = MatchTagEnd(tag)) {
          Emit(tag == Tag::kVariable ? TokenKind::kVariableEnd : TokenKind::kBlockEnd,
               tag == Tag::kVariable ? "}}" : "%}", line_);
          AdvanceTo(*end);
          line_starting_ = src_[*end - 1] == '\n';
          return absl::OkStatus();
        }
      }
      if (size_t space = SkipSpaces(src_, pos_); space > pos_) {
        AdvanceTo(space);
        continue;
      }
      absl::Status status = LexExpressionToken(&brackets);
      if (!status.ok()) return status;
    }
  }

  absl::Status LexExpressionToken(std::vector<char>* brackets) {
    const char c = src_[pos_];
    const int line = line_;
    if (IsDigit(c)) return LexNumber();
    if (IsNameStart(c)) {
      size_t end = pos_ + 1;
      while (end < src_.size() && IsNameChar(src_[end])) ++end;
      Emit(TokenKind::kName, src_.substr(pos_, end - pos_), line);
      AdvanceTo(end);
      return absl::OkStatus();
    }
    if (c == '\'' || c == '"') return LexString(c);
    static constexpr absl::string_view kTwoChar[] = {"//", "**", "==", "!=", ">=", "<="};
    for (absl::string_view op : kTwoChar) {
      if (absl::string_view(src_).substr(pos_, 2) == op) {
        Emit(TokenKind::kOperator, std::string(op), line);
        AdvanceTo(pos_ + 2);
        return absl::OkStatus();
      }
    }
    static constexpr absl::string_view kOneChar = "+-/*%~[](){}><=.:|,;";
    if (kOneChar.find(c) == absl::string_view::npos) {
      size_t len;
      DecodeCodePoint(src_, pos_, &len);
      return LexError(line, absl::StrCat("unexpected character '", src_.substr(pos_, len), "'"));
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets->push_back(c == '(' ? ')' : (c == '[' ? ']' : '}'));
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets->empty())
        return LexError(line, absl::StrCat("unexpected '", std::string(1, c), "'"));
      if (brackets->back() != c) {
        return LexError(line, absl::StrCat("unexpected '", std::string(1, c), "', expected '",
                                           std::string(1, brackets->back()), "'"));
      }
      brackets->pop_back();
    }
    Emit(TokenKind::kOperator, std::string(1, c), line);
    AdvanceTo(pos_ + 1);
    return absl::OkStatus();
  }

  // Digits with optional single underscores between them, from `p`: the end position.
  size_t ScanDigits(size_t p) const {
    while (p < src_.size() && IsDigit(src_[p])) {
      ++p;
      if (p + 1 < src_.size() && src_[p] == '_' && IsDigit(src_[p + 1])) ++p;
    }
    return p;
  }

  absl::Status LexNumber() {
    const int line = line_;
    const size_t start = pos_;
    if (src_.compare(start, 2, "0x") == 0 || src_.compare(start, 2, "0X") == 0) {
      size_t p = start + 2;
      uint64_t value = 0;
      while (p < src_.size() && (HexValue(src_[p]) >= 0 || src_[p] == '_')) {
        if (src_[p] != '_') {
          if (value > (std::numeric_limits<int64_t>::max() >> 4)) {
            return LexError(line, "integer literal too large");
          }
          value = value * 16 + static_cast<uint64_t>(HexValue(src_[p]));
        }
        ++p;
      }
      if (p == start + 2) return LexError(line, "malformed hexadecimal literal");
      Token token{TokenKind::kInteger, src_.substr(start, p - start), static_cast<int64_t>(value),
                  0, line};
      tokens_.push_back(std::move(token));
      AdvanceTo(p);
      return absl::OkStatus();
    }
    size_t p = ScanDigits(start);
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && IsDigit(src_[p + 1]) &&
        (start == 0 || src_[start - 1] != '.')) {
      p = ScanDigits(p + 1);
      is_float = true;
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E') &&
        (start == 0 || src_[start - 1] != '.')) {
      size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && IsDigit(src_[q])) {
        p = ScanDigits(q);
        is_float = true;
      }
    }
    std::string digits;
    for (size_t i = start; i < p; ++i) {
      if (src_[i] != '_') digits.push_back(src_[i]);
    }
    Token token;
    token.line = line;
    token.text = src_.substr(start, p - start);
    if (is_float) {
      token.kind = TokenKind::kFloat;
      token.float_value = std::strtod(digits.c_str(), nullptr);
    } else {
      if (digits.size() > 1 && digits[0] == '0' &&
          digits.find_first_not_of('0') != std::string::npos) {
        return LexError(line, absl::StrCat("invalid integer literal '", token.text, "'"));
      }
      token.kind = TokenKind::kInteger;
      int64_t value = 0;
      for (char d : digits) {
        if (value > (std::numeric_limits<int64_t>::max() - (d - '0')) / 10) {
          return LexError(line, "integer literal too large");
        }
        value = value * 10 + (d - '0');
      }
      token.int_value = value;
    }
    tokens_.push_back(std::move(token));
    AdvanceTo(p);
    return absl::OkStatus();
  }

  absl::Status LexString(char quote) {
    const int line = line_;
    size_t p = pos_ + 1;
    while (p < src_.size() && src_[p] != quote) p += src_[p] == '\\' ? 2 : 1;
    if (p >= src_.size()) return LexError(line, "unterminated string literal");
    absl::StatusOr<std::string> value =
        DecodeEscapes(absl::string_view(src_).substr(pos_ + 1, p - pos_ - 1), line);
    if (!value.ok()) return value.status();
    Emit(TokenKind::kString, *std::move(value), line);
    AdvanceTo(p + 1);
    return absl::OkStatus();
  }

  const LexerOptions options_;
  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;  // the last thing consumed ended a line (lstrip_blocks)
  std::vector<Token> tokens_;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source, const LexerOptions& options) {
  return Lexer(source, options).Run();
}

std::string DescribeToken(const Token& token) {
  switch (token.kind) {
    case TokenKind::kText:
      return "template text";
    case TokenKind::kName:
      return absl::StrCat("name '", token.text, "'");
    case TokenKind::kString:
      return "string literal";
    case TokenKind::kInteger:
      return absl::StrCat("integer ", token.text);
    case TokenKind::kFloat:
      return absl::StrCat("float ", token.text);
    case TokenKind::kEof:
      return "end of template";
    default:
      return absl::StrCat("'", token.text, "'");
  }
}

}  // namespace kvserve::jinja
