// A cursor over the lexer's tokens, shared by the statement and expression parsers.
//
// Invariant: the token list ends with kEof, and the cursor never moves past it, so current() is
// always valid. Errors are INVALID_ARGUMENT "line N: ...", N the line of the token at fault.
//
// Threads: one parse, one thread.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_TOKEN_CURSOR_H_
#define KVSERVE_ENGINE_CHAT_JINJA_TOKEN_CURSOR_H_

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/chat/jinja_lexer.h"

namespace kvserve::jinja {

class TokenCursor {
 public:
  explicit TokenCursor(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  const Token& current() const { return tokens_[pos_]; }
  // The token `ahead` places after the current one (kEof past the end).
  const Token& Peek(size_t ahead = 1) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  // Returns the current token and moves to the next one.
  const Token& Next() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }

  bool Is(TokenKind kind) const { return current().kind == kind; }
  bool IsName(absl::string_view name) const {
    return current().kind == TokenKind::kName && current().text == name;
  }
  bool IsOperator(absl::string_view op) const {
    return current().kind == TokenKind::kOperator && current().text == op;
  }
  bool SkipName(absl::string_view name) {
    if (!IsName(name)) return false;
    Next();
    return true;
  }
  bool SkipOperator(absl::string_view op) {
    if (!IsOperator(op)) return false;
    Next();
    return true;
  }

  absl::Status ErrorAt(const Token& token, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat("line ", token.line, ": ", message));
  }
  // "line N: expected <what>, got <the current token>".
  absl::Status Expected(absl::string_view what) const {
    return ErrorAt(current(), absl::StrCat("expected ", what, ", got ", DescribeToken(current())));
  }
  absl::Status ExpectOperator(absl::string_view op) {
    if (SkipOperator(op)) return absl::OkStatus();
    return Expected(absl::StrCat("'", op, "'"));
  }
  absl::Status Expect(TokenKind kind, absl::string_view what) {
    if (!Is(kind)) return Expected(what);
    Next();
    return absl::OkStatus();
  }

  // Nesting of blocks and expressions, bounded so that a hostile template cannot exhaust the
  // stack of the parser (or, later, of the evaluator walking its tree).
  static constexpr int kMaxNesting = 100;
  absl::Status Enter() {
    if (++nesting_ > kMaxNesting) {
      return ErrorAt(current(), absl::StrCat("nested more than ", kMaxNesting, " levels deep"));
    }
    return absl::OkStatus();
  }
  void Leave() { --nesting_; }

 private:
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int nesting_ = 0;
};

// Enter() for a scope: Leave() when it ends, whether parsing failed or not.
class NestingGuard {
 public:
  explicit NestingGuard(TokenCursor& cursor) : cursor_(cursor), status_(cursor.Enter()) {}
  ~NestingGuard() { cursor_.Leave(); }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;
  const absl::Status& status() const { return status_; }

 private:
  TokenCursor& cursor_;
  absl::Status status_;
};

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_TOKEN_CURSOR_H_
