// The syntax tree of a parsed Jinja template: expressions and statements.
//
// Nodes are built by the parser (jinja_parser.h) and never modified afterwards; the evaluator
// (jinja_evaluator.h) walks them. Every node records the 1-based source line it starts on, for
// error messages. Kinds are closed enums: a node's `kind` says which struct it is, and the
// evaluator switches over it (no virtual dispatch).
//
// Threads: a Program is immutable and may be evaluated by any number of threads at once.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_AST_H_
#define KVSERVE_ENGINE_CHAT_JINJA_AST_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat/jinja_value.h"

namespace kvserve::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<const Expr>;
using StmtPtr = std::unique_ptr<const Stmt>;
using Body = std::vector<StmtPtr>;

// Arguments of a call, filter or test, as written.
struct ArgExprs {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

// `name(args)` after a `|`, in an expression or a `{% filter %}` / `{% set x | f %}` header.
struct FilterCall {
  std::string name;
  ArgExprs args;
  int line = 0;
};

struct Expr {
  enum class Kind {
    kLiteral,      // LiteralExpr
    kName,         // NameExpr
    kList,         // ListExpr (lists and tuples)
    kDict,         // DictExpr
    kAttribute,    // AttributeExpr: a.b
    kItem,         // ItemExpr: a[b]
    kSlice,        // SliceExpr: a[b:c:d]
    kCall,         // CallExpr: f(args)
    kFilter,       // FilterExpr: a | f(args)
    kTest,         // TestExpr: a is [not] t(args)
    kUnary,        // UnaryExpr: not a, -a, +a
    kBinary,       // BinaryExpr: arithmetic, and, or
    kConcat,       // ConcatExpr: a ~ b ~ c
    kCompare,      // CompareExpr: a < b <= c, in, not in
    kConditional,  // ConditionalExpr: a if c else b
  };
  Expr(Kind k, int l) : kind(k), line(l) {}
  virtual ~Expr() = default;
  const Kind kind;
  const int line;
};

struct LiteralExpr final : Expr {
  explicit LiteralExpr(int l, Value v) : Expr(Kind::kLiteral, l), value(std::move(v)) {}
  Value value;  // none, bool, int, float or string
};

struct NameExpr final : Expr {
  NameExpr(int l, std::string n) : Expr(Kind::kName, l), name(std::move(n)) {}
  std::string name;
};

struct ListExpr final : Expr {
  ListExpr(int l, bool tuple) : Expr(Kind::kList, l), is_tuple(tuple) {}
  std::vector<ExprPtr> items;
  bool is_tuple;
};

struct DictExpr final : Expr {
  explicit DictExpr(int l) : Expr(Kind::kDict, l) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> entries;
};

struct AttributeExpr final : Expr {
  AttributeExpr(int l, ExprPtr o, std::string n)
      : Expr(Kind::kAttribute, l), object(std::move(o)), name(std::move(n)) {}
  ExprPtr object;
  std::string name;
};

struct ItemExpr final : Expr {
  ItemExpr(int l, ExprPtr o, ExprPtr i)
      : Expr(Kind::kItem, l), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object;
  ExprPtr index;
};

struct SliceExpr final : Expr {
  explicit SliceExpr(int l) : Expr(Kind::kSlice, l) {}
  ExprPtr object;
  ExprPtr start, stop, step;  // each null when left out
};

struct CallExpr final : Expr {
  CallExpr(int l, ExprPtr c) : Expr(Kind::kCall, l), callee(std::move(c)) {}
  ExprPtr callee;
  ArgExprs args;
};

struct FilterExpr final : Expr {
  FilterExpr(int l, ExprPtr o, FilterCall f)
      : Expr(Kind::kFilter, l), operand(std::move(o)), filter(std::move(f)) {}
  ExprPtr operand;
  FilterCall filter;
};

struct TestExpr final : Expr {
  TestExpr(int l, ExprPtr o) : Expr(Kind::kTest, l), operand(std::move(o)) {}
  ExprPtr operand;
  std::string name;
  ArgExprs args;
  bool negated = false;
};

struct UnaryExpr final : Expr {
  enum class Op { kNot, kNegate, kPlus };
  UnaryExpr(int l, Op o, ExprPtr e) : Expr(Kind::kUnary, l), op(o), operand(std::move(e)) {}
  Op op;
  ExprPtr operand;
};

struct BinaryExpr final : Expr {
  enum class Op { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow, kAnd, kOr };
  BinaryExpr(int l, Op o, ExprPtr a, ExprPtr b)
      : Expr(Kind::kBinary, l), op(o), left(std::move(a)), right(std::move(b)) {}
  Op op;
  ExprPtr left, right;
};

struct ConcatExpr final : Expr {
  explicit ConcatExpr(int l) : Expr(Kind::kConcat, l) {}
  std::vector<ExprPtr> parts;
};

struct CompareExpr final : Expr {
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };
  CompareExpr(int l, ExprPtr f) : Expr(Kind::kCompare, l), first(std::move(f)) {}
  ExprPtr first;
  std::vector<std::pair<Op, ExprPtr>> rest;  // a < b < c: each compares with the one before
};

struct ConditionalExpr final : Expr {
  explicit ConditionalExpr(int l) : Expr(Kind::kConditional, l) {}
  ExprPtr condition, then, otherwise;  // otherwise null: undefined when the condition is false
};

// What `set`, `for` and `with` assign to: one name, several (tuple unpacking), or a namespace's
// attribute (`ns.attr`).
struct AssignTarget {
  std::vector<std::string> names;
  bool unpack = false;         // a tuple of names, even of one (`for a, in ...`)
  std::string namespace_attr;  // non-empty: assign names[0].namespace_attr
};

struct Stmt {
  enum class Kind {
    kText,         // TextStmt: template data
    kOutput,       // OutputStmt: {{ expr }}
    kIf,           // IfStmt
    kFor,          // ForStmt
    kSet,          // SetStmt: {% set target = expr %}
    kSetBlock,     // SetBlockStmt: {% set target | filters %}body{% endset %}
    kMacro,        // MacroStmt
    kFilterBlock,  // FilterBlockStmt: {% filter f %}body{% endfilter %}
    kScope,        // ScopeStmt: {% with %} and {% generation %}: body in a new scope
    kBreak,
    kContinue,
  };
  Stmt(Kind k, int l) : kind(k), line(l) {}
  virtual ~Stmt() = default;
  const Kind kind;
  const int line;
};

struct TextStmt final : Stmt {
  TextStmt(int l, std::string t) : Stmt(Kind::kText, l), text(std::move(t)) {}
  std::string text;
};

struct OutputStmt final : Stmt {
  OutputStmt(int l, ExprPtr e) : Stmt(Kind::kOutput, l), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt final : Stmt {
  struct Branch {
    ExprPtr condition;
    Body body;
  };
  explicit IfStmt(int l) : Stmt(Kind::kIf, l) {}
  std::vector<Branch> branches;  // if, then each elif
  Body otherwise;
};

struct ForStmt final : Stmt {
  explicit ForStmt(int l) : Stmt(Kind::kFor, l) {}
  AssignTarget target;
  ExprPtr iterable;
  ExprPtr filter;  // `for x in xs if cond`; null without
  Body body;
  Body otherwise;  // runs when no item passed the filter
};

struct SetStmt final : Stmt {
  explicit SetStmt(int l) : Stmt(Kind::kSet, l) {}
  AssignTarget target;
  ExprPtr value;
};

struct SetBlockStmt final : Stmt {
  explicit SetBlockStmt(int l) : Stmt(Kind::kSetBlock, l) {}
  AssignTarget target;
  std::vector<FilterCall> filters;  // applied in order to the body's output
  Body body;
};

struct MacroStmt final : Stmt {
  explicit MacroStmt(int l) : Stmt(Kind::kMacro, l) {}
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // one per param; null: no default (undefined when not passed)
  bool uses_varargs = false;      // the body names `varargs`: extra positionals land there
  bool uses_kwargs = false;       // the body names `kwargs`: unknown keywords land there
  Body body;
};

struct FilterBlockStmt final : Stmt {
  explicit FilterBlockStmt(int l) : Stmt(Kind::kFilterBlock, l) {}
  std::vector<FilterCall> filters;
  Body body;
};

struct ScopeStmt final : Stmt {
  explicit ScopeStmt(int l) : Stmt(Kind::kScope, l) {}
  std::vector<std::pair<std::string, ExprPtr>> assignments;  // `with a = 1, b = 2`
  Body body;
};

struct LoopControlStmt final : Stmt {
  LoopControlStmt(int l, bool is_break) : Stmt(is_break ? Kind::kBreak : Kind::kContinue, l) {}
};

// A parsed template.
struct Program {
  Body body;
};

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_AST_H_
