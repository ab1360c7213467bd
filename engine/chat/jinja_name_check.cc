#include "engine/chat/jinja_name_check.h"

#include "absl/strings/str_cat.h"
#include "engine/chat/jinja_filters.h"
#include "engine/chat/jinja_predicates.h"
#include "engine/chat/status_macros.h"

namespace kvserve::jinja {
namespace {

// Walks the tree as jinja2's code generator does: `soft` is true inside if-statements and
// conditional expressions, and a new frame (a loop body, a macro, a block) starts hard again.
class NameChecker {
 public:
  absl::Status Body(const jinja::Body& body, bool soft) {
    for (const StmtPtr& stmt : body) CHAT_RETURN_IF_ERROR(Statement(*stmt, soft));
    return absl::OkStatus();
  }

 private:
  absl::Status Filter(const FilterCall& filter, bool soft) {
    if (FindFilter(filter.name) == nullptr && !soft) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", filter.line, ": unknown filter '", filter.name, "'"));
    }
    return Args(filter.args, soft);
  }

  absl::Status Args(const ArgExprs& args, bool soft) {
    for (const ExprPtr& e : args.positional) CHAT_RETURN_IF_ERROR(Expression(*e, soft));
    for (const auto& [name, e] : args.keyword) CHAT_RETURN_IF_ERROR(Expression(*e, soft));
    return absl::OkStatus();
  }

  absl::Status Optional(const ExprPtr& e, bool soft) {
    return e == nullptr ? absl::OkStatus() : Expression(*e, soft);
  }

  absl::Status Expression(const Expr& expr, bool soft) {
    switch (expr.kind) {
      case Expr::Kind::kLiteral:
      case Expr::Kind::kName:
        return absl::OkStatus();
      case Expr::Kind::kList:
        for (const ExprPtr& e : static_cast<const ListExpr&>(expr).items) {
          CHAT_RETURN_IF_ERROR(Expression(*e, soft));
        }
        return absl::OkStatus();
      case Expr::Kind::kDict:
        for (const auto& [k, v] : static_cast<const DictExpr&>(expr).entries) {
          CHAT_RETURN_IF_ERROR(Expression(*k, soft));
          CHAT_RETURN_IF_ERROR(Expression(*v, soft));
        }
        return absl::OkStatus();
      case Expr::Kind::kAttribute:
        return Expression(*static_cast<const AttributeExpr&>(expr).object, soft);
      case Expr::Kind::kItem: {
        const auto& node = static_cast<const ItemExpr&>(expr);
        CHAT_RETURN_IF_ERROR(Expression(*node.object, soft));
        return Expression(*node.index, soft);
      }
      case Expr::Kind::kSlice: {
        const auto& node = static_cast<const SliceExpr&>(expr);
        CHAT_RETURN_IF_ERROR(Expression(*node.object, soft));
        CHAT_RETURN_IF_ERROR(Optional(node.start, soft));
        CHAT_RETURN_IF_ERROR(Optional(node.stop, soft));
        return Optional(node.step, soft);
      }
      case Expr::Kind::kCall: {
        const auto& node = static_cast<const CallExpr&>(expr);
        CHAT_RETURN_IF_ERROR(Expression(*node.callee, soft));
        return Args(node.args, soft);
      }
      case Expr::Kind::kFilter: {
        const auto& node = static_cast<const FilterExpr&>(expr);
        CHAT_RETURN_IF_ERROR(Expression(*node.operand, soft));
        return Filter(node.filter, soft);
      }
      case Expr::Kind::kTest: {
        const auto& node = static_cast<const TestExpr&>(expr);
        if (FindTest(node.name) == nullptr && !soft) {
          return absl::InvalidArgumentError(
              absl::StrCat("line ", expr.line, ": unknown test '", node.name, "'"));
        }
        CHAT_RETURN_IF_ERROR(Expression(*node.operand, soft));
        return Args(node.args, soft);
      }
      case Expr::Kind::kUnary:
        return Expression(*static_cast<const UnaryExpr&>(expr).operand, soft);
      case Expr::Kind::kBinary: {
        const auto& node = static_cast<const BinaryExpr&>(expr);
        CHAT_RETURN_IF_ERROR(Expression(*node.left, soft));
        return Expression(*node.right, soft);
      }
      case Expr::Kind::kConcat:
        for (const ExprPtr& e : static_cast<const ConcatExpr&>(expr).parts) {
          CHAT_RETURN_IF_ERROR(Expression(*e, soft));
        }
        return absl::OkStatus();
      case Expr::Kind::kCompare: {
        const auto& node = static_cast<const CompareExpr&>(expr);
        CHAT_RETURN_IF_ERROR(Expression(*node.first, soft));
        for (const auto& [op, e] : node.rest) CHAT_RETURN_IF_ERROR(Expression(*e, soft));
        return absl::OkStatus();
      }
      case Expr::Kind::kConditional: {
        const auto& node = static_cast<const ConditionalExpr&>(expr);
        CHAT_RETURN_IF_ERROR(Expression(*node.condition, true));
        CHAT_RETURN_IF_ERROR(Expression(*node.then, true));
        return Optional(node.otherwise, true);
      }
    }
    return absl::OkStatus();
  }

  absl::Status Statement(const Stmt& stmt, bool soft) {
    switch (stmt.kind) {
      case Stmt::Kind::kText:
      case Stmt::Kind::kBreak:
      case Stmt::Kind::kContinue:
        return absl::OkStatus();
      case Stmt::Kind::kOutput:
        return Expression(*static_cast<const OutputStmt&>(stmt).expr, soft);
      case Stmt::Kind::kIf: {
        const auto& node = static_cast<const IfStmt&>(stmt);
        for (const IfStmt::Branch& branch : node.branches) {
          CHAT_RETURN_IF_ERROR(Expression(*branch.condition, true));
          CHAT_RETURN_IF_ERROR(Body(branch.body, true));
        }
        return Body(node.otherwise, true);
      }
      case Stmt::Kind::kFor: {
        const auto& node = static_cast<const ForStmt&>(stmt);
        CHAT_RETURN_IF_ERROR(Expression(*node.iterable, soft));
        CHAT_RETURN_IF_ERROR(Optional(node.filter, false));
        CHAT_RETURN_IF_ERROR(Body(node.body, false));
        return Body(node.otherwise, false);
      }
      case Stmt::Kind::kSet:
        return Expression(*static_cast<const SetStmt&>(stmt).value, soft);
      case Stmt::Kind::kSetBlock: {
        const auto& node = static_cast<const SetBlockStmt&>(stmt);
        for (const FilterCall& f : node.filters) CHAT_RETURN_IF_ERROR(Filter(f, false));
        return Body(node.body, false);
      }
      case Stmt::Kind::kMacro: {
        const auto& node = static_cast<const MacroStmt&>(stmt);
        for (const ExprPtr& d : node.defaults) CHAT_RETURN_IF_ERROR(Optional(d, false));
        return Body(node.body, false);
      }
      case Stmt::Kind::kFilterBlock: {
        const auto& node = static_cast<const FilterBlockStmt&>(stmt);
        for (const FilterCall& f : node.filters) CHAT_RETURN_IF_ERROR(Filter(f, false));
        return Body(node.body, false);
      }
      case Stmt::Kind::kScope: {
        const auto& node = static_cast<const ScopeStmt&>(stmt);
        for (const auto& [name, e] : node.assignments) CHAT_RETURN_IF_ERROR(Expression(*e, soft));
        return Body(node.body, false);
      }
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::Status CheckFilterAndTestNames(const Program& program) {
  return NameChecker().Body(program.body, false);
}

}  // namespace kvserve::jinja
