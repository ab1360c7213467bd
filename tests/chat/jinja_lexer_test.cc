// The lexer: tokens, jinja2's whitespace rules, string escapes, line numbers, errors.
#include "engine/chat/jinja_lexer.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kvserve::jinja {
namespace {

using ::testing::HasSubstr;

std::vector<Token> MustTokenize(absl::string_view source) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(source);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  return tokens.ok() ? *tokens : std::vector<Token>{};
}

// The concatenated text tokens: what the template's data renders as.
std::string Text(absl::string_view source) {
  std::string text;
  for (const Token& t : MustTokenize(source)) {
    if (t.kind == TokenKind::kText) text += t.text;
  }
  return text;
}

std::string Error(absl::string_view source) {
  absl::StatusOr<std::vector<Token>> tokens = Tokenize(source);
  EXPECT_FALSE(tokens.ok()) << source;
  return tokens.ok() ? "" : std::string(tokens.status().message());
}

TEST(JinjaLexerTest, ExpressionTokens) {
  const std::vector<Token> tokens = MustTokenize("{{ a.b[0] // 2 ** x ~ 'q' }}");
  std::vector<std::string> texts;
  for (const Token& t : tokens) texts.push_back(t.text);
  EXPECT_THAT(texts, ::testing::ElementsAre("{{", "a", ".", "b", "[", "0", "]", "//", "2", "**",
                                            "x", "~", "q", "}}", ""));
  EXPECT_EQ(tokens[0].kind, TokenKind::kVariableBegin);
  EXPECT_EQ(tokens[1].kind, TokenKind::kName);
  EXPECT_EQ(tokens[5].kind, TokenKind::kInteger);
  EXPECT_EQ(tokens[12].kind, TokenKind::kString);
  EXPECT_EQ(tokens.back().kind, TokenKind::kEof);
}

TEST(JinjaLexerTest, Numbers) {
  const std::vector<Token> tokens = MustTokenize("{{ 1_000 0x1f 1.5 2e3 1.5e-2 7 }}");
  ASSERT_GE(tokens.size(), 8u);
  EXPECT_EQ(tokens[1].int_value, 1000);
  EXPECT_EQ(tokens[2].int_value, 31);
  EXPECT_EQ(tokens[3].kind, TokenKind::kFloat);
  EXPECT_DOUBLE_EQ(tokens[3].float_value, 1.5);
  EXPECT_DOUBLE_EQ(tokens[4].float_value, 2000.0);
  EXPECT_DOUBLE_EQ(tokens[5].float_value, 0.015);
  EXPECT_EQ(tokens[6].kind, TokenKind::kInteger);
}

TEST(JinjaLexerTest, StringEscapesArePythons) {
  const std::vector<Token> tokens =
      MustTokenize(R"({{ 'a\nb\t\\\'' "\u00e9\x41\101" 'keep \d' "multi
line" }})");
  ASSERT_GE(tokens.size(), 5u);
  EXPECT_EQ(tokens[1].text, "a\nb\t\\'");
  EXPECT_EQ(tokens[2].text,
            "\xc3\xa9"
            "AA");
  EXPECT_EQ(tokens[3].text, "keep \\d");
  EXPECT_EQ(tokens[4].text, "multi\nline");
}

TEST(JinjaLexerTest, TrimBlocksDropsOneNewlineAfterBlocksOnly) {
  EXPECT_EQ(Text("{% if x %}\nA{% endif %}\n\nB"), "A\nB");
  EXPECT_EQ(Text("{{ x }}\nA"), "\nA");  // not after variables
  EXPECT_EQ(Text("{# c #}\nA"), "A");    // comments too
  EXPECT_EQ(Text("{% if x +%}\nA"), "\nA");
}

TEST(JinjaLexerTest, LstripBlocksDropsIndentBeforeBlocksOnly) {
  EXPECT_EQ(Text("a\n    {% if x %}b"), "a\nb");
  EXPECT_EQ(Text("a\n    {{ x }}"), "a\n    ");     // not before variables
  EXPECT_EQ(Text("a\n  x {% if y %}"), "a\n  x ");  // not after other text on the line
  EXPECT_EQ(Text("a\n    {%+ if x %}b"), "a\n    b");
  EXPECT_EQ(Text("  {% if x %}"), "");  // the template's first line counts
}

TEST(JinjaLexerTest, MinusModifiersStripAllWhitespace) {
  EXPECT_EQ(Text("a \n\t {%- if x -%} \n\n b"), "ab");
  EXPECT_EQ(Text("a  {{- x -}}  b"), "ab");
  EXPECT_EQ(Text("a  {#- c -#}  b"), "ab");
  // Python's whitespace, not only ASCII: U+3000 IDEOGRAPHIC SPACE goes too.
  EXPECT_EQ(Text("a\xe3\x80\x80{{- x }}"), "a");
}

TEST(JinjaLexerTest, NewlinesAreNormalizedAndOneTrailingNewlineDropped) {
  EXPECT_EQ(Text("a\r\nb\rc\n"), "a\nb\nc");
  EXPECT_EQ(Text("a\n\n"), "a\n");
}

TEST(JinjaLexerTest, RawBlocksAreText) {
  EXPECT_EQ(Text("{% raw %}{{ x }}{% y %}{% endraw %}"), "{{ x }}{% y %}");
  // No trim_blocks after {% raw %} (jinja2's own quirk), but after {% endraw %}.
  EXPECT_EQ(Text("{% raw %}\nA{% endraw %}\nB"), "\nAB");
}

TEST(JinjaLexerTest, EndDelimiterOnlyCountsWithBalancedBrackets) {
  const std::vector<Token> tokens = MustTokenize("{{ {'a': {'b': 1}}}}");
  EXPECT_EQ(tokens[tokens.size() - 2].kind, TokenKind::kVariableEnd);
  EXPECT_EQ(tokens[tokens.size() - 3].text, "}");
}

TEST(JinjaLexerTest, LineNumbers) {
  const std::vector<Token> tokens = MustTokenize("a\n{{ x }}\n\n{% if\n y %}");
  int y_line = 0, x_line = 0;
  for (const Token& t : tokens) {
    if (t.text == "x") x_line = t.line;
    if (t.text == "y") y_line = t.line;
  }
  EXPECT_EQ(x_line, 2);
  EXPECT_EQ(y_line, 5);
}

TEST(JinjaLexerTest, Errors) {
  EXPECT_THAT(Error("a\n{{ 'open"), HasSubstr("line 2: unterminated string"));
  EXPECT_THAT(Error("a\n\n{% if x "), HasSubstr("line 3: '{%' is never closed"));
  EXPECT_THAT(Error("{{ x }}\n{# comment"), HasSubstr("line 2: comment '{#' is never closed"));
  EXPECT_THAT(Error("{{ a @ b }}"), HasSubstr("unexpected character '@'"));
  EXPECT_THAT(Error("{{ (a] }}"), HasSubstr("unexpected ']', expected ')'"));
  EXPECT_THAT(Error("{{ a) }}"), HasSubstr("unexpected ')'"));
  EXPECT_THAT(Error("{{ 99999999999999999999 }}"), HasSubstr("integer literal too large"));
  EXPECT_THAT(Error("{{ 012 }}"), HasSubstr("invalid integer literal"));
  EXPECT_THAT(Error("{{ '\\x4' }}"), HasSubstr("truncated \\x escape"));
  EXPECT_THAT(Error("{% raw %}never closed"), HasSubstr("'{% raw %}' is never closed"));
}

}  // namespace
}  // namespace kvserve::jinja
