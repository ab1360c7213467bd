// The Jinja lexer: template source → tokens, with jinja2's whitespace rules applied.
//
// Output: text tokens (template data, already whitespace-controlled; raw blocks become text too)
// and, for each `{{ ... }}` and `{% ... %}`, a begin token, the expression tokens (names, string,
// integer and float literals, operators) and an end token. Comments produce nothing. The last
// token is kEof.
//
// Whitespace, as jinja2 3.1 with Hugging Face's settings (trim_blocks, lstrip_blocks):
//   * the source's newlines are normalized to "\n" and one trailing newline is dropped
//     (keep_trailing_newline=False);
//   * `{%-`, `{{-`, `{#-` strip all whitespace before the tag, `-%}`, `-}}`, `-#}` all after it;
//   * trim_blocks: one newline right after `%}` or `#}` is dropped (not after `}}`, not after
//     `{% raw %}`, not after `+%}`);
//   * lstrip_blocks: spaces and tabs between the start of a line and `{%` or `{#` are dropped
//     (not before `{{`, not before `{%+`).
// Inside a tag, the end delimiter only counts when brackets are balanced, so `{{ {'a': 1}}}`
// works as in jinja2. String literals decode Python's escapes (\n, \t, \\, \', \", \xhh, \uhhhh,
// \Uhhhhhhhh, octal); an unknown escape keeps its backslash, as Python does.
//
// Errors (INVALID_ARGUMENT, "line N: ..."): an unterminated tag, comment or string, a character
// that starts no token, unbalanced brackets, a malformed number.
//
// Threads: Tokenize is a pure function.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_LEXER_H_
#define KVSERVE_ENGINE_CHAT_JINJA_LEXER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvserve::jinja {

enum class TokenKind {
  kText,
  kVariableBegin,  // {{
  kVariableEnd,    // }}
  kBlockBegin,     // {%
  kBlockEnd,       // %}
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEof,
};

struct Token {
  TokenKind kind = TokenKind::kEof;
  // kText: the data; kName: the identifier; kString: the decoded value; kOperator: its spelling
  // ("+", "//", "(", ...); delimiters: their spelling.
  std::string text;
  int64_t int_value = 0;   // kInteger
  double float_value = 0;  // kFloat
  int line = 1;            // 1-based line of the token's first character
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source,
                                            const LexerOptions& options = {});

// For error messages: "'%}'", "name 'foo'", "string", "end of template".
std::string DescribeToken(const Token& token);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_LEXER_H_
