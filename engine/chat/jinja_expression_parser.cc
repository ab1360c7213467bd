#include "engine/chat/jinja_expression_parser.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/chat/jinja_filters.h"
#include "engine/chat/jinja_predicates.h"
#include "engine/chat/status_macros.h"

namespace kvserve::jinja {
namespace {

bool IsKeywordConstant(absl::string_view name) {
  return name == "true" || name == "True" || name == "false" || name == "False" || name == "none" ||
         name == "None";
}

}  // namespace

absl::StatusOr<ExprPtr> ExpressionParser::ParseExpression(bool with_conditional) {
  NestingGuard guard(c_);
  CHAT_RETURN_IF_ERROR(guard.status());
  return with_conditional ? ParseConditional() : ParseOr();
}

bool ExpressionParser::AtTupleEnd(std::initializer_list<absl::string_view> end_names) const {
  if (c_.Is(TokenKind::kVariableEnd) || c_.Is(TokenKind::kBlockEnd) || c_.IsOperator(")")) {
    return true;
  }
  for (absl::string_view name : end_names) {
    if (c_.IsName(name)) return true;
  }
  return false;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseTuple(
    bool with_conditional, std::initializer_list<absl::string_view> end_names) {
  const int line = c_.current().line;
  std::vector<ExprPtr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) CHAT_RETURN_IF_ERROR(c_.ExpectOperator(","));
    if (AtTupleEnd(end_names)) break;
    CHAT_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(with_conditional));
    items.push_back(std::move(item));
    if (!c_.IsOperator(",")) break;
    is_tuple = true;
  }
  if (!is_tuple) {
    if (items.empty()) return c_.Expected("an expression");
    return std::move(items[0]);
  }
  auto tuple = std::make_unique<ListExpr>(line, /*tuple=*/true);
  tuple->items = std::move(items);
  return tuple;
}

absl::StatusOr<AssignTarget> ExpressionParser::ParseAssignTarget(
    bool with_namespace, std::initializer_list<absl::string_view> end_names) {
  AssignTarget target;
  if (with_namespace && c_.Is(TokenKind::kName) && c_.Peek().kind == TokenKind::kOperator &&
      c_.Peek().text == ".") {
    target.names.push_back(c_.Next().text);
    c_.Next();  // the dot
    if (!c_.Is(TokenKind::kName)) return c_.Expected("an attribute name");
    target.namespace_attr = c_.Next().text;
    return target;
  }
  const bool parenthesized = c_.SkipOperator("(");
  while (true) {
    if (!target.names.empty()) CHAT_RETURN_IF_ERROR(c_.ExpectOperator(","));
    if (AtTupleEnd(end_names)) break;
    if (c_.IsOperator("(")) {
      return c_.ErrorAt(c_.current(), "nested tuple targets are not supported");
    }
    if (!c_.Is(TokenKind::kName) || IsKeywordConstant(c_.current().text)) {
      return c_.Expected("a variable name to assign to");
    }
    target.names.push_back(c_.Next().text);
    if (!c_.IsOperator(",")) break;
    target.unpack = true;
  }
  if (target.names.empty()) return c_.Expected("a variable name to assign to");
  if (parenthesized) {
    CHAT_RETURN_IF_ERROR(c_.ExpectOperator(")"));
    if (c_.IsOperator(",")) {
      return c_.ErrorAt(c_.current(), "nested tuple targets are not supported");
    }
  }
  return target;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseConditional() {
  CHAT_ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
  while (c_.IsName("if")) {
    const int line = c_.Next().line;
    auto conditional = std::make_unique<ConditionalExpr>(line);
    CHAT_ASSIGN_OR_RETURN(conditional->condition, ParseOr());
    if (c_.SkipName("else")) {
      NestingGuard guard(c_);
      CHAT_RETURN_IF_ERROR(guard.status());
      CHAT_ASSIGN_OR_RETURN(conditional->otherwise, ParseConditional());
    }
    conditional->then = std::move(expr);
    expr = std::move(conditional);
  }
  return expr;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseOr() {
  CHAT_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
  while (c_.IsName("or")) {
    const int line = c_.Next().line;
    CHAT_ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
    left =
        std::make_unique<BinaryExpr>(line, BinaryExpr::Op::kOr, std::move(left), std::move(right));
  }
  return left;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseAnd() {
  CHAT_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
  while (c_.IsName("and")) {
    const int line = c_.Next().line;
    CHAT_ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
    left =
        std::make_unique<BinaryExpr>(line, BinaryExpr::Op::kAnd, std::move(left), std::move(right));
  }
  return left;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseNot() {
  if (c_.IsName("not")) {
    const int line = c_.Next().line;
    NestingGuard guard(c_);
    CHAT_RETURN_IF_ERROR(guard.status());
    CHAT_ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
    return std::make_unique<UnaryExpr>(line, UnaryExpr::Op::kNot, std::move(operand));
  }
  return ParseCompare();
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseCompare() {
  const int line = c_.current().line;
  CHAT_ASSIGN_OR_RETURN(ExprPtr first, ParseAddSub());
  std::unique_ptr<CompareExpr> compare;
  while (true) {
    CompareExpr::Op op;
    if (c_.IsOperator("==")) {
      op = CompareExpr::Op::kEq;
    } else if (c_.IsOperator("!=")) {
      op = CompareExpr::Op::kNe;
    } else if (c_.IsOperator("<")) {
      op = CompareExpr::Op::kLt;
    } else if (c_.IsOperator("<=")) {
      op = CompareExpr::Op::kLe;
    } else if (c_.IsOperator(">")) {
      op = CompareExpr::Op::kGt;
    } else if (c_.IsOperator(">=")) {
      op = CompareExpr::Op::kGe;
    } else if (c_.IsName("in")) {
      op = CompareExpr::Op::kIn;
    } else if (c_.IsName("not") && c_.Peek().kind == TokenKind::kName && c_.Peek().text == "in") {
      op = CompareExpr::Op::kNotIn;
      c_.Next();
    } else {
      break;
    }
    c_.Next();
    CHAT_ASSIGN_OR_RETURN(ExprPtr operand, ParseAddSub());
    if (compare == nullptr) compare = std::make_unique<CompareExpr>(line, std::move(first));
    compare->rest.emplace_back(op, std::move(operand));
  }
  if (compare == nullptr) return first;
  return compare;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseAddSub() {
  CHAT_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
  while (c_.IsOperator("+") || c_.IsOperator("-")) {
    const Token& token = c_.Next();
    const auto op = token.text == "+" ? BinaryExpr::Op::kAdd : BinaryExpr::Op::kSub;
    CHAT_ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
    left = std::make_unique<BinaryExpr>(token.line, op, std::move(left), std::move(right));
  }
  return left;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseConcat() {
  const int line = c_.current().line;
  CHAT_ASSIGN_OR_RETURN(ExprPtr first, ParseMulDiv());
  if (!c_.IsOperator("~")) return first;
  auto concat = std::make_unique<ConcatExpr>(line);
  concat->parts.push_back(std::move(first));
  while (c_.SkipOperator("~")) {
    CHAT_ASSIGN_OR_RETURN(ExprPtr part, ParseMulDiv());
    concat->parts.push_back(std::move(part));
  }
  return concat;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseMulDiv() {
  CHAT_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
  while (true) {
    BinaryExpr::Op op;
    if (c_.IsOperator("*")) {
      op = BinaryExpr::Op::kMul;
    } else if (c_.IsOperator("/")) {
      op = BinaryExpr::Op::kDiv;
    } else if (c_.IsOperator("//")) {
      op = BinaryExpr::Op::kFloorDiv;
    } else if (c_.IsOperator("%")) {
      op = BinaryExpr::Op::kMod;
    } else {
      return left;
    }
    const int line = c_.Next().line;
    CHAT_ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
    left = std::make_unique<BinaryExpr>(line, op, std::move(left), std::move(right));
  }
}

absl::StatusOr<ExprPtr> ExpressionParser::ParsePow() {
  CHAT_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
  while (c_.IsOperator("**")) {
    const int line = c_.Next().line;
    CHAT_ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
    left =
        std::make_unique<BinaryExpr>(line, BinaryExpr::Op::kPow, std::move(left), std::move(right));
  }
  return left;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseUnary(bool with_filter) {
  ExprPtr node;
  if (c_.IsOperator("-") || c_.IsOperator("+")) {
    const Token& token = c_.Next();
    const auto op = token.text == "-" ? UnaryExpr::Op::kNegate : UnaryExpr::Op::kPlus;
    NestingGuard guard(c_);
    CHAT_RETURN_IF_ERROR(guard.status());
    CHAT_ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
    node = std::make_unique<UnaryExpr>(token.line, op, std::move(operand));
  } else {
    CHAT_ASSIGN_OR_RETURN(node, ParsePrimary());
  }
  CHAT_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
  if (with_filter) return ParseFilterAndTests(std::move(node));
  return node;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParsePrimary() {
  const Token& token = c_.current();
  const int line = token.line;
  switch (token.kind) {
    case TokenKind::kName: {
      const std::string name = c_.Next().text;
      if (name == "true" || name == "True")
        return std::make_unique<LiteralExpr>(line, Value::Bool(true));
      if (name == "false" || name == "False") {
        return std::make_unique<LiteralExpr>(line, Value::Bool(false));
      }
      if (name == "none" || name == "None")
        return std::make_unique<LiteralExpr>(line, Value::None());
      if (macro_uses_ != nullptr) {
        if (name == "varargs") macro_uses_->varargs = true;
        if (name == "kwargs") macro_uses_->kwargs = true;
      }
      return std::make_unique<NameExpr>(line, name);
    }
    case TokenKind::kString: {
      std::string value;
      while (c_.Is(TokenKind::kString)) value += c_.Next().text;
      return std::make_unique<LiteralExpr>(line, Value::String(std::move(value)));
    }
    case TokenKind::kInteger:
      return std::make_unique<LiteralExpr>(line, Value::Int(c_.Next().int_value));
    case TokenKind::kFloat:
      return std::make_unique<LiteralExpr>(line, Value::Float(c_.Next().float_value));
    case TokenKind::kOperator:
      if (token.text == "(") {
        c_.Next();
        ExprPtr inner;
        if (c_.IsOperator(")")) {
          inner = std::make_unique<ListExpr>(line, /*tuple=*/true);  // ()
        } else {
          CHAT_ASSIGN_OR_RETURN(inner, ParseTuple());
        }
        CHAT_RETURN_IF_ERROR(c_.ExpectOperator(")"));
        return inner;
      }
      if (token.text == "[") return ParseListLiteral();
      if (token.text == "{") return ParseDictLiteral();
      break;
    default:
      break;
  }
  return c_.ErrorAt(token, absl::StrCat("unexpected ", DescribeToken(token)));
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseListLiteral() {
  const int line = c_.Next().line;  // [
  auto list = std::make_unique<ListExpr>(line, /*tuple=*/false);
  while (!c_.IsOperator("]")) {
    if (!list->items.empty()) {
      CHAT_RETURN_IF_ERROR(c_.ExpectOperator(","));
      if (c_.IsOperator("]")) break;
    }
    CHAT_ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
    list->items.push_back(std::move(item));
  }
  c_.Next();  // ]
  return list;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseDictLiteral() {
  const int line = c_.Next().line;  // {
  auto dict = std::make_unique<DictExpr>(line);
  while (!c_.IsOperator("}")) {
    if (!dict->entries.empty()) {
      CHAT_RETURN_IF_ERROR(c_.ExpectOperator(","));
      if (c_.IsOperator("}")) break;
    }
    CHAT_ASSIGN_OR_RETURN(ExprPtr key, ParseExpression());
    CHAT_RETURN_IF_ERROR(c_.ExpectOperator(":"));
    CHAT_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
    dict->entries.emplace_back(std::move(key), std::move(value));
  }
  c_.Next();  // }
  return dict;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParsePostfix(ExprPtr node) {
  while (true) {
    if (c_.IsOperator(".") || c_.IsOperator("[")) {
      CHAT_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
    } else if (c_.IsOperator("(")) {
      auto call = std::make_unique<CallExpr>(c_.current().line, std::move(node));
      CHAT_ASSIGN_OR_RETURN(call->args, ParseCallArgs());
      node = std::move(call);
    } else {
      return node;
    }
  }
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseFilterAndTests(ExprPtr node) {
  while (true) {
    if (c_.IsOperator("|")) {
      const int line = c_.Next().line;
      CHAT_ASSIGN_OR_RETURN(FilterCall filter, ParseFilterCall());
      node = std::make_unique<FilterExpr>(line, std::move(node), std::move(filter));
    } else if (c_.IsName("is")) {
      CHAT_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
    } else if (c_.IsOperator("(")) {
      auto call = std::make_unique<CallExpr>(c_.current().line, std::move(node));
      CHAT_ASSIGN_OR_RETURN(call->args, ParseCallArgs());
      node = std::move(call);
    } else {
      return node;
    }
  }
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseSubscript(ExprPtr node) {
  const Token& token = c_.Next();
  const int line = token.line;
  if (token.text == ".") {
    const Token& attr = c_.current();
    if (attr.kind == TokenKind::kName) {
      return std::make_unique<AttributeExpr>(line, std::move(node), c_.Next().text);
    }
    if (attr.kind == TokenKind::kInteger) {  // a.0 is a[0]
      auto index = std::make_unique<LiteralExpr>(line, Value::Int(c_.Next().int_value));
      return std::make_unique<ItemExpr>(line, std::move(node), std::move(index));
    }
    return c_.Expected("an attribute name or number after '.'");
  }
  // [index] or [start:stop:step]
  ExprPtr parts[3];
  bool is_slice = false;
  if (!c_.IsOperator(":")) {
    CHAT_ASSIGN_OR_RETURN(parts[0], ParseExpression());
  }
  if (c_.SkipOperator(":")) {
    is_slice = true;
    if (!c_.IsOperator(":") && !c_.IsOperator("]") && !c_.IsOperator(",")) {
      CHAT_ASSIGN_OR_RETURN(parts[1], ParseExpression());
    }
    if (c_.SkipOperator(":") && !c_.IsOperator("]") && !c_.IsOperator(",")) {
      CHAT_ASSIGN_OR_RETURN(parts[2], ParseExpression());
    }
  }
  if (c_.IsOperator(",")) {
    return c_.ErrorAt(c_.current(), "subscripts with several indices (a[x, y]) are not supported");
  }
  CHAT_RETURN_IF_ERROR(c_.ExpectOperator("]"));
  if (!is_slice) return std::make_unique<ItemExpr>(line, std::move(node), std::move(parts[0]));
  auto slice = std::make_unique<SliceExpr>(line);
  slice->object = std::move(node);
  slice->start = std::move(parts[0]);
  slice->stop = std::move(parts[1]);
  slice->step = std::move(parts[2]);
  return slice;
}

absl::StatusOr<ExprPtr> ExpressionParser::ParseTest(ExprPtr node) {
  const int line = c_.Next().line;  // is
  auto test = std::make_unique<TestExpr>(line, std::move(node));
  test->negated = c_.SkipName("not");
  if (!c_.Is(TokenKind::kName)) return c_.Expected("a test name after 'is'");
  const Token& name_token = c_.Next();
  test->name = name_token.text;
  while (c_.SkipOperator(".")) {
    if (!c_.Is(TokenKind::kName)) return c_.Expected("a name");
    test->name += "." + c_.Next().text;
  }
  // Names jinja2 does not know either are checked after parsing (jinja_name_check.h).
  if (FindTest(test->name) == nullptr && IsJinjaTest(test->name)) {
    return c_.ErrorAt(name_token, absl::StrCat("test '", test->name, "' is not supported"));
  }
  const Token& next = c_.current();
  if (c_.IsOperator("(")) {
    CHAT_ASSIGN_OR_RETURN(test->args, ParseCallArgs());
  } else if ((next.kind == TokenKind::kName || next.kind == TokenKind::kString ||
              next.kind == TokenKind::kInteger || next.kind == TokenKind::kFloat ||
              c_.IsOperator("[") || c_.IsOperator("{")) &&
             !c_.IsName("else") && !c_.IsName("or") && !c_.IsName("and")) {
    if (c_.IsName("is")) return c_.ErrorAt(next, "tests cannot be chained with 'is'");
    CHAT_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
    CHAT_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
    test->args.positional.push_back(std::move(arg));
  }
  return test;
}

absl::StatusOr<FilterCall> ExpressionParser::ParseFilterCall() {
  FilterCall filter;
  if (!c_.Is(TokenKind::kName)) return c_.Expected("a filter name");
  const Token& name_token = c_.Next();
  filter.line = name_token.line;
  filter.name = name_token.text;
  while (c_.SkipOperator(".")) {
    if (!c_.Is(TokenKind::kName)) return c_.Expected("a name");
    filter.name += "." + c_.Next().text;
  }
  // Names jinja2 does not know either are checked after parsing (jinja_name_check.h).
  if (FindFilter(filter.name) == nullptr && IsJinjaFilter(filter.name)) {
    return c_.ErrorAt(name_token, absl::StrCat("filter '", filter.name, "' is not supported"));
  }
  if (c_.IsOperator("(")) {
    CHAT_ASSIGN_OR_RETURN(filter.args, ParseCallArgs());
  }
  return filter;
}

absl::StatusOr<ArgExprs> ExpressionParser::ParseCallArgs() {
  const Token& open = c_.Next();  // (
  ArgExprs args;
  bool require_comma = false;
  while (!c_.IsOperator(")")) {
    if (require_comma) {
      CHAT_RETURN_IF_ERROR(c_.ExpectOperator(","));
      if (c_.IsOperator(")")) break;
    }
    if (c_.IsOperator("*") || c_.IsOperator("**")) {
      return c_.ErrorAt(c_.current(), "'*args' and '**kwargs' in calls are not supported");
    }
    if (c_.Is(TokenKind::kName) && c_.Peek().kind == TokenKind::kOperator &&
        c_.Peek().text == "=") {
      std::string key = c_.Next().text;
      c_.Next();  // =
      CHAT_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      args.keyword.emplace_back(std::move(key), std::move(value));
    } else {
      if (!args.keyword.empty()) {
        return c_.ErrorAt(open, "a positional argument follows a keyword argument");
      }
      CHAT_ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      args.positional.push_back(std::move(value));
    }
    require_comma = true;
  }
  c_.Next();  // )
  return args;
}

}  // namespace kvserve::jinja
