#include "engine/chat/jinja_parser.h"

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/chat/jinja_expression_parser.h"
#include "engine/chat/jinja_lexer.h"
#include "engine/chat/jinja_name_check.h"
#include "engine/chat/jinja_token_cursor.h"
#include "engine/chat/status_macros.h"

namespace kvserve::jinja {
namespace {

using EndTags = std::initializer_list<absl::string_view>;

// Tags jinja2 knows that this interpreter refuses, and why.
constexpr std::pair<absl::string_view, absl::string_view> kUnsupportedTags[] = {
    {"extends", "template inheritance"},
    {"block", "template inheritance"},
    {"include", "including other templates"},
    {"import", "importing other templates"},
    {"from", "importing other templates"},
    {"call", "call blocks"},
    {"autoescape", "autoescaping"},
    {"do", "the 'do' extension (Hugging Face does not enable it)"},
    {"trans", "the i18n extension"},
    {"pluralize", "the i18n extension"},
    {"debug", "the debug extension"},
};

constexpr absl::string_view kEndTags[] = {
    "elif",      "else",    "endif",         "endfor",   "endset",  "endmacro",
    "endfilter", "endwith", "endgeneration", "endblock", "endcall", "endraw",
};

class StatementParser {
 public:
  explicit StatementParser(TokenCursor* cursor) : c_(*cursor), expr_(cursor) {}

  absl::StatusOr<std::unique_ptr<const Program>> ParseProgram() {
    auto program = std::make_unique<Program>();
    CHAT_ASSIGN_OR_RETURN(program->body, ParseBody({}));
    return program;
  }

 private:
  struct OpenBlock {
    std::string tag;
    int line;
    std::string expected;  // "'endfor' or 'else'"
  };

  // Template data and tags up to one of `end_tags` (the cursor is then on that tag's name) or the
  // end of the template (an error while a block is open).
  absl::StatusOr<Body> ParseBody(EndTags end_tags) {
    Body body;
    while (true) {
      const Token& token = c_.current();
      switch (token.kind) {
        case TokenKind::kText:
          body.push_back(std::make_unique<TextStmt>(token.line, c_.Next().text));
          break;
        case TokenKind::kVariableBegin: {
          const int line = c_.Next().line;
          CHAT_ASSIGN_OR_RETURN(ExprPtr expr, expr_.ParseTuple());
          CHAT_RETURN_IF_ERROR(c_.Expect(TokenKind::kVariableEnd, "'}}'"));
          body.push_back(std::make_unique<OutputStmt>(line, std::move(expr)));
          break;
        }
        case TokenKind::kBlockBegin: {
          c_.Next();
          for (absl::string_view end : end_tags) {
            if (c_.IsName(end)) return body;
          }
          CHAT_ASSIGN_OR_RETURN(StmtPtr stmt, ParseStatement());
          CHAT_RETURN_IF_ERROR(c_.Expect(TokenKind::kBlockEnd, "'%}'"));
          body.push_back(std::move(stmt));
          break;
        }
        case TokenKind::kEof:
          if (!open_.empty()) {
            const OpenBlock& open = open_.back();
            return c_.ErrorAt(
                token, absl::StrCat("unexpected end of template: the '", open.tag, "' on line ",
                                    open.line, " needs ", open.expected));
          }
          return body;
        default:
          return c_.ErrorAt(token, absl::StrCat("unexpected ", DescribeToken(token)));
      }
    }
  }

  // `%}` (after an optional `:`, as jinja2 allows), then the body up to one of `end_tags`.
  absl::StatusOr<Body> ParseBlockBody(const std::string& tag, int line, EndTags end_tags) {
    c_.SkipOperator(":");
    CHAT_RETURN_IF_ERROR(c_.Expect(TokenKind::kBlockEnd, "'%}'"));
    std::vector<std::string> quoted;
    for (absl::string_view end : end_tags) quoted.push_back(absl::StrCat("'", end, "'"));
    open_.push_back({tag, line, absl::StrJoin(quoted, " or ")});
    absl::StatusOr<Body> body = ParseBody(end_tags);
    open_.pop_back();
    return body;
  }

  absl::StatusOr<StmtPtr> ParseStatement() {
    const Token& token = c_.current();
    if (token.kind != TokenKind::kName) return c_.Expected("a tag name after '{%'");
    NestingGuard guard(c_);
    CHAT_RETURN_IF_ERROR(guard.status());
    const std::string& tag = token.text;
    if (tag == "if") return ParseIf();
    if (tag == "for") return ParseFor();
    if (tag == "set") return ParseSet();
    if (tag == "macro") return ParseMacro();
    if (tag == "filter") return ParseFilterBlock();
    if (tag == "with") return ParseWith();
    if (tag == "generation") return ParseGeneration();
    if (tag == "print") {
      const int line = c_.Next().line;
      CHAT_ASSIGN_OR_RETURN(ExprPtr expr, expr_.ParseTuple());
      return std::make_unique<OutputStmt>(line, std::move(expr));
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) {
        return c_.ErrorAt(token, absl::StrCat("'{% ", tag, " %}' outside a for loop"));
      }
      return std::make_unique<LoopControlStmt>(c_.Next().line, tag == "break");
    }
    for (const auto& [name, what] : kUnsupportedTags) {
      if (tag == name) {
        return c_.ErrorAt(token, absl::StrCat("unsupported construct '{% ", tag, " %}': ", what,
                                              " is not supported"));
      }
    }
    for (absl::string_view end : kEndTags) {
      if (tag == end) {
        std::string message = absl::StrCat("unexpected '{% ", tag, " %}'");
        if (!open_.empty()) {
          absl::StrAppend(&message, ": the innermost open block is the '", open_.back().tag,
                          "' on line ", open_.back().line, ", which needs ", open_.back().expected);
        }
        return c_.ErrorAt(token, message);
      }
    }
    return c_.ErrorAt(token, absl::StrCat("unknown tag '", tag, "'"));
  }

  absl::StatusOr<StmtPtr> ParseIf() {
    const int line = c_.Next().line;
    auto node = std::make_unique<IfStmt>(line);
    CHAT_ASSIGN_OR_RETURN(ExprPtr condition, expr_.ParseTuple(/*with_conditional=*/false));
    while (true) {
      IfStmt::Branch branch;
      branch.condition = std::move(condition);
      CHAT_ASSIGN_OR_RETURN(branch.body, ParseBlockBody("if", line, {"elif", "else", "endif"}));
      node->branches.push_back(std::move(branch));
      const std::string end = c_.Next().text;
      if (end == "elif") {
        CHAT_ASSIGN_OR_RETURN(condition, expr_.ParseTuple(/*with_conditional=*/false));
        continue;
      }
      if (end == "else") {
        CHAT_ASSIGN_OR_RETURN(node->otherwise, ParseBlockBody("if", line, {"endif"}));
        c_.Next();  // endif
      }
      return node;
    }
  }

  absl::StatusOr<StmtPtr> ParseFor() {
    const int line = c_.Next().line;
    auto node = std::make_unique<ForStmt>(line);
    CHAT_ASSIGN_OR_RETURN(node->target, expr_.ParseAssignTarget(/*with_namespace=*/false, {"in"}));
    if (!c_.SkipName("in")) return c_.Expected("'in'");
    CHAT_ASSIGN_OR_RETURN(node->iterable,
                          expr_.ParseTuple(/*with_conditional=*/false, {"recursive"}));
    if (c_.SkipName("if")) {
      CHAT_ASSIGN_OR_RETURN(node->filter, expr_.ParseExpression());
    }
    if (c_.IsName("recursive")) {
      return c_.ErrorAt(c_.current(), "unsupported construct: recursive for loops");
    }
    ++loop_depth_;
    absl::StatusOr<Body> body = ParseBlockBody("for", line, {"endfor", "else"});
    --loop_depth_;
    if (!body.ok()) return body.status();
    node->body = *std::move(body);
    if (c_.Next().text == "else") {
      CHAT_ASSIGN_OR_RETURN(node->otherwise, ParseBlockBody("for", line, {"endfor"}));
      c_.Next();  // endfor
    }
    return node;
  }

  // Filters after the `|` of a block header (`{% set x | trim %}`, `{% filter a | b %}`).
  absl::StatusOr<std::vector<FilterCall>> ParseFilterChain(bool first_inline) {
    std::vector<FilterCall> filters;
    while (first_inline || c_.SkipOperator("|")) {
      first_inline = false;
      CHAT_ASSIGN_OR_RETURN(FilterCall filter, expr_.ParseFilterCall());
      filters.push_back(std::move(filter));
    }
    return filters;
  }

  absl::StatusOr<StmtPtr> ParseSet() {
    const int line = c_.Next().line;
    CHAT_ASSIGN_OR_RETURN(AssignTarget target, expr_.ParseAssignTarget(/*with_namespace=*/true));
    if (c_.SkipOperator("=")) {
      auto node = std::make_unique<SetStmt>(line);
      node->target = std::move(target);
      CHAT_ASSIGN_OR_RETURN(node->value, expr_.ParseTuple());
      return node;
    }
    auto node = std::make_unique<SetBlockStmt>(line);
    node->target = std::move(target);
    CHAT_ASSIGN_OR_RETURN(node->filters, ParseFilterChain(/*first_inline=*/false));
    CHAT_ASSIGN_OR_RETURN(node->body, ParseBlockBody("set", line, {"endset"}));
    c_.Next();  // endset
    return node;
  }

  absl::StatusOr<StmtPtr> ParseMacro() {
    const int line = c_.Next().line;
    auto node = std::make_unique<MacroStmt>(line);
    if (!c_.Is(TokenKind::kName)) return c_.Expected("a macro name");
    node->name = c_.Next().text;
    CHAT_RETURN_IF_ERROR(c_.ExpectOperator("("));
    while (!c_.SkipOperator(")")) {
      if (!node->params.empty()) CHAT_RETURN_IF_ERROR(c_.ExpectOperator(","));
      if (c_.SkipOperator(")")) break;
      if (!c_.Is(TokenKind::kName)) return c_.Expected("a parameter name");
      node->params.push_back(c_.Next().text);
      ExprPtr default_value;
      if (c_.SkipOperator("=")) {
        CHAT_ASSIGN_OR_RETURN(default_value, expr_.ParseExpression());
      } else if (!node->defaults.empty() && node->defaults.back() != nullptr) {
        return c_.ErrorAt(c_.current(), "a parameter without a default follows one with one");
      }
      node->defaults.push_back(std::move(default_value));
    }
    MacroNameUses uses;
    MacroNameUses* outer_uses = expr_.macro_name_uses();
    expr_.set_macro_name_uses(&uses);
    const int outer_loop_depth = loop_depth_;
    loop_depth_ = 0;  // `break` in a macro does not leave the caller's loop
    absl::StatusOr<Body> body = ParseBlockBody("macro", line, {"endmacro"});
    loop_depth_ = outer_loop_depth;
    expr_.set_macro_name_uses(outer_uses);
    if (!body.ok()) return body.status();
    c_.Next();  // endmacro
    node->body = *std::move(body);
    node->uses_varargs = uses.varargs;
    node->uses_kwargs = uses.kwargs;
    return node;
  }

  absl::StatusOr<StmtPtr> ParseFilterBlock() {
    const int line = c_.Next().line;
    auto node = std::make_unique<FilterBlockStmt>(line);
    CHAT_ASSIGN_OR_RETURN(node->filters, ParseFilterChain(/*first_inline=*/true));
    CHAT_ASSIGN_OR_RETURN(node->body, ParseBlockBody("filter", line, {"endfilter"}));
    c_.Next();  // endfilter
    return node;
  }

  absl::StatusOr<StmtPtr> ParseWith() {
    const int line = c_.Next().line;
    auto node = std::make_unique<ScopeStmt>(line);
    while (!c_.Is(TokenKind::kBlockEnd)) {
      if (!node->assignments.empty()) CHAT_RETURN_IF_ERROR(c_.ExpectOperator(","));
      if (!c_.Is(TokenKind::kName)) return c_.Expected("a variable name");
      std::string name = c_.Next().text;
      CHAT_RETURN_IF_ERROR(c_.ExpectOperator("="));
      CHAT_ASSIGN_OR_RETURN(ExprPtr value, expr_.ParseExpression());
      node->assignments.emplace_back(std::move(name), std::move(value));
    }
    CHAT_ASSIGN_OR_RETURN(node->body, ParseBlockBody("with", line, {"endwith"}));
    c_.Next();  // endwith
    return node;
  }

  // Hugging Face's `{% generation %}...{% endgeneration %}` (it marks assistant text for
  // training masks): renders its body, in a scope of its own as jinja2's call blocks do.
  absl::StatusOr<StmtPtr> ParseGeneration() {
    const int line = c_.Next().line;
    auto node = std::make_unique<ScopeStmt>(line);
    const int outer_loop_depth = loop_depth_;
    loop_depth_ = 0;  // the body is a macro in jinja2: `break` cannot leave it
    absl::StatusOr<Body> body = ParseBlockBody("generation", line, {"endgeneration"});
    loop_depth_ = outer_loop_depth;
    if (!body.ok()) return body.status();
    node->body = *std::move(body);
    c_.Next();  // endgeneration
    return node;
  }

  TokenCursor& c_;
  ExpressionParser expr_;
  std::vector<OpenBlock> open_;
  int loop_depth_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<const Program>> ParseTemplate(absl::string_view source) {
  CHAT_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source));
  TokenCursor cursor(std::move(tokens));
  CHAT_ASSIGN_OR_RETURN(std::unique_ptr<const Program> program,
                        StatementParser(&cursor).ParseProgram());
  CHAT_RETURN_IF_ERROR(CheckFilterAndTestNames(*program));
  return program;
}

}  // namespace kvserve::jinja
