// The expression half of the Jinja parser: tokens → expression trees, with jinja2's grammar and
// precedence (lowest first):
//
//   conditional  a if c else b          (in the `for` header only when parenthesized)
//   or, and, not
//   compare      == != < <= > >= in, not in (chained: a < b < c)
//   + -
//   ~            string concatenation
//   * / // %
//   **
//   unary - +, then postfix .attr [index] [a:b:c] (args), then filters `| f(args)` and tests
//   `is [not] t(args)` (`is divisibleby 3`: one argument without parentheses)
//
// Literals: strings (adjacent ones concatenate), integers, floats, true/false/none (also
// True/False/None), lists, tuples, dicts. A filter or test that jinja2 has but this interpreter
// does not is refused here; names jinja2 does not know either are checked after parsing, where
// jinja2 checks them (jinja_name_check.h). Not supported, refused with the line: `*args` /
// `**kwargs` in calls, subscripts with several indices (`a[1, 2]`), nested tuple targets.
//
// Threads: one parse, one thread.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_EXPRESSION_PARSER_H_
#define KVSERVE_ENGINE_CHAT_JINJA_EXPRESSION_PARSER_H_

#include <initializer_list>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat/jinja_ast.h"
#include "engine/chat/jinja_token_cursor.h"

namespace kvserve::jinja {

// Which of a macro's special names its body mentions.
struct MacroNameUses {
  bool varargs = false;
  bool kwargs = false;
};

class ExpressionParser {
 public:
  explicit ExpressionParser(TokenCursor* cursor) : c_(*cursor) {}

  // jinja2's parse_expression.
  absl::StatusOr<ExprPtr> ParseExpression(bool with_conditional = true);
  // jinja2's parse_tuple: `a, b` is a tuple, `a` itself. A tuple ends before `}}`, `%}`, `)` or
  // one of `end_names`.
  absl::StatusOr<ExprPtr> ParseTuple(bool with_conditional = true,
                                     std::initializer_list<absl::string_view> end_names = {});
  // A name, a tuple of names, or (with_namespace) `ns.attr`.
  absl::StatusOr<AssignTarget> ParseAssignTarget(
      bool with_namespace, std::initializer_list<absl::string_view> end_names = {});
  // The filter after a `|` (already consumed): name, optional arguments.
  absl::StatusOr<FilterCall> ParseFilterCall();
  // `(args)`: the cursor is at the `(`.
  absl::StatusOr<ArgExprs> ParseCallArgs();

  // While set, names `varargs` / `kwargs` mark it (the statement parser's macro bodies).
  void set_macro_name_uses(MacroNameUses* uses) { macro_uses_ = uses; }
  MacroNameUses* macro_name_uses() const { return macro_uses_; }

 private:
  absl::StatusOr<ExprPtr> ParseConditional();
  absl::StatusOr<ExprPtr> ParseOr();
  absl::StatusOr<ExprPtr> ParseAnd();
  absl::StatusOr<ExprPtr> ParseNot();
  absl::StatusOr<ExprPtr> ParseCompare();
  absl::StatusOr<ExprPtr> ParseAddSub();
  absl::StatusOr<ExprPtr> ParseConcat();
  absl::StatusOr<ExprPtr> ParseMulDiv();
  absl::StatusOr<ExprPtr> ParsePow();
  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter);
  absl::StatusOr<ExprPtr> ParsePrimary();
  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseFilterAndTests(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseTest(ExprPtr node);
  absl::StatusOr<ExprPtr> ParseListLiteral();
  absl::StatusOr<ExprPtr> ParseDictLiteral();
  bool AtTupleEnd(std::initializer_list<absl::string_view> end_names) const;

  TokenCursor& c_;
  MacroNameUses* macro_uses_ = nullptr;
};

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_EXPRESSION_PARSER_H_
