#include "engine/chat/jinja_evaluator.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "engine/chat/jinja_callable.h"
#include "engine/chat/jinja_filters.h"
#include "engine/chat/jinja_globals.h"
#include "engine/chat/jinja_methods.h"
#include "engine/chat/jinja_operators.h"
#include "engine/chat/jinja_predicates.h"
#include "engine/chat/status_macros.h"

namespace kvserve::jinja {
namespace {

constexpr char kLocatedPayload[] = "kvserve.jinja/located";

// Prefixes "line N: " to an error that does not name a line yet (raise_exception's never does).
absl::Status AtLine(const absl::Status& status, int line) {
  if (status.ok() || IsRaisedError(status) || status.GetPayload(kLocatedPayload).has_value()) {
    return status;
  }
  absl::Status located(status.code(), absl::StrCat("line ", line, ": ", status.message()));
  located.SetPayload(kLocatedPayload, absl::Cord("1"));
  return located;
}

absl::Status UndefinedError(const Value& v) {
  return absl::InvalidArgumentError(v.undefined_hint().empty() ? "undefined value"
                                                               : v.undefined_hint());
}

class Evaluator;

// A macro defined by the render that runs it.
class Macro final : public Callable {
 public:
  Macro(Evaluator* evaluator, const MacroStmt* node) : evaluator_(evaluator), node_(node) {}
  std::string Describe() const override { return absl::StrCat("Macro '", node_->name, "'"); }
  absl::StatusOr<Value> Call(Interpreter& interpreter, CallArgs args) const override;

 private:
  Evaluator* const evaluator_;
  const MacroStmt* const node_;
};

class Evaluator final : public Interpreter {
 public:
  Evaluator(const RenderEnvironment& environment, const Dict& variables)
      : env_(environment), limits_(environment.limits) {
    for (const auto& [name, value] : variables.entries()) {
      if (name.is_string()) root_.vars[name.string_value()] = value;
    }
    scope_ = &root_;
  }

  // A namespace can be made to hold itself (`{% set ns.me = ns %}`, or through a list): shared
  // ownership would leak such a cycle, so every namespace that was assigned to is emptied when
  // the render ends. Nothing of the render's values outlives it (the output is a string).
  ~Evaluator() {
    for (const Value& ns : assigned_namespaces_) ns.namespace_data().attrs = Dict();
  }

  absl::StatusOr<std::string> Run(const Program& program) {
    std::string out;
    out_ = &out;
    CHAT_ASSIGN_OR_RETURN(Flow flow, ExecBody(program.body));
    (void)flow;  // the parser refuses break / continue outside loops
    return out;
  }

  // Interpreter:
  absl::StatusOr<Value> Call(const Value& callee, CallArgs args) override {
    if (callee.is_undefined()) return UndefinedError(callee);
    if (!callee.is_callable()) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", callee.TypeName(), "' object is not callable"));
    }
    CHAT_RETURN_IF_ERROR(Step());
    return callee.callable().Call(*this, std::move(args));
  }
  absl::StatusOr<Value> ApplyFilter(absl::string_view name, const Value& input,
                                    CallArgs args) override {
    FilterFn filter = FindFilter(name);
    if (filter == nullptr)
      return absl::InvalidArgumentError(absl::StrCat("no filter named '", name, "'"));
    CHAT_RETURN_IF_ERROR(Step());
    return filter(*this, input, args);
  }
  absl::StatusOr<bool> ApplyTest(absl::string_view name, const Value& input,
                                 CallArgs args) override {
    TestFn test = FindTest(name);
    if (test == nullptr)
      return absl::InvalidArgumentError(absl::StrCat("no test named '", name, "'"));
    CHAT_RETURN_IF_ERROR(Step());
    return test(*this, input, args);
  }
  absl::Time Now() const override { return env_.now; }
  absl::TimeZone TimeZone() const override { return env_.time_zone; }
  size_t max_string_bytes() const override { return limits_.max_output_bytes; }

  absl::StatusOr<Value> CallMacro(const MacroStmt& node, CallArgs args);

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  struct Scope {
    Scope* parent = nullptr;
    absl::flat_hash_map<std::string, Value> vars;
  };

  // Makes `scope` current until destroyed.
  class ScopeGuard {
   public:
    ScopeGuard(Evaluator* e, Scope* scope) : e_(e), saved_(e->scope_) { e->scope_ = scope; }
    ~ScopeGuard() { e_->scope_ = saved_; }

   private:
    Evaluator* e_;
    Scope* saved_;
  };

  // Sends output to `buffer` until destroyed.
  class CaptureGuard {
   public:
    CaptureGuard(Evaluator* e, std::string* buffer) : e_(e), saved_(e->out_) { e->out_ = buffer; }
    ~CaptureGuard() { e_->out_ = saved_; }

   private:
    Evaluator* e_;
    std::string* saved_;
  };

  absl::Status Step() {
    if (++steps_ > limits_.max_steps) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the template ran more than ", limits_.max_steps, " steps"));
    }
    return absl::OkStatus();
  }

  // Counts text the render builds against max_built_bytes.
  absl::Status Built(size_t bytes) {
    built_bytes_ += bytes;
    if (built_bytes_ > limits_.max_built_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the template built more than ", limits_.max_built_bytes, " bytes of text"));
    }
    return absl::OkStatus();
  }

  absl::Status Append(absl::string_view text) {
    out_->append(text.data(), text.size());
    if (out_->size() > limits_.max_output_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the output is longer than ", limits_.max_output_bytes, " bytes"));
    }
    return Built(text.size());
  }

  Value Lookup(const std::string& name) const {
    for (const Scope* s = scope_; s != nullptr; s = s->parent) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    if (std::optional<Value> global = FindGlobal(name)) return *global;
    return Value::Undefined(absl::StrCat("'", name, "' is undefined"));
  }

  absl::StatusOr<Flow> ExecBody(const Body& body) {
    for (const StmtPtr& stmt : body) {
      absl::StatusOr<Flow> flow = Exec(*stmt);
      if (!flow.ok()) return AtLine(flow.status(), stmt->line);
      if (*flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  absl::StatusOr<Flow> Exec(const Stmt& stmt);
  absl::StatusOr<Flow> ExecFor(const ForStmt& node);
  absl::Status Assign(const AssignTarget& target, const Value& value, Scope* scope);
  absl::StatusOr<std::string> Capture(const Body& body);
  absl::StatusOr<Value> ApplyFilters(const std::vector<FilterCall>& filters, Value value);

  absl::StatusOr<Value> Eval(const Expr& expr) {
    absl::StatusOr<Value> value = EvalImpl(expr);
    if (!value.ok()) return AtLine(value.status(), expr.line);
    return value;
  }
  absl::StatusOr<Value> EvalImpl(const Expr& expr);
  absl::StatusOr<CallArgs> EvalArgs(const ArgExprs& args);

  const RenderEnvironment& env_;
  const RenderLimits limits_;
  Scope root_;
  Scope* scope_ = nullptr;
  std::string* out_ = nullptr;
  int64_t steps_ = 0;
  size_t built_bytes_ = 0;
  int call_depth_ = 0;
  std::vector<Value> assigned_namespaces_;
  absl::flat_hash_set<const NamespaceData*> assigned_namespace_ids_;
};

absl::StatusOr<Value> Macro::Call(Interpreter&, CallArgs args) const {
  return evaluator_->CallMacro(*node_, std::move(args));
}

absl::StatusOr<CallArgs> Evaluator::EvalArgs(const ArgExprs& args) {
  CallArgs out;
  out.positional.reserve(args.positional.size());
  for (const ExprPtr& e : args.positional) {
    CHAT_ASSIGN_OR_RETURN(Value v, Eval(*e));
    out.positional.push_back(std::move(v));
  }
  for (const auto& [name, e] : args.keyword) {
    CHAT_ASSIGN_OR_RETURN(Value v, Eval(*e));
    out.keyword.emplace_back(name, std::move(v));
  }
  return out;
}

absl::StatusOr<Value> Evaluator::EvalImpl(const Expr& expr) {
  switch (expr.kind) {
    case Expr::Kind::kLiteral:
      return static_cast<const LiteralExpr&>(expr).value;
    case Expr::Kind::kName:
      return Lookup(static_cast<const NameExpr&>(expr).name);
    case Expr::Kind::kList: {
      const auto& node = static_cast<const ListExpr&>(expr);
      ValueList items;
      items.reserve(node.items.size());
      for (const ExprPtr& item : node.items) {
        CHAT_ASSIGN_OR_RETURN(Value v, Eval(*item));
        items.push_back(std::move(v));
      }
      return node.is_tuple ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
    }
    case Expr::Kind::kDict: {
      const auto& node = static_cast<const DictExpr&>(expr);
      Dict dict;
      for (const auto& [key_expr, value_expr] : node.entries) {
        CHAT_ASSIGN_OR_RETURN(Value key, Eval(*key_expr));
        CHAT_ASSIGN_OR_RETURN(Value value, Eval(*value_expr));
        if (!dict.Set(key, std::move(value))) {
          return absl::InvalidArgumentError(
              absl::StrCat("unhashable type: '", key.TypeName(), "'"));
        }
      }
      return Value::FromDict(std::move(dict));
    }
    case Expr::Kind::kAttribute: {
      const auto& node = static_cast<const AttributeExpr&>(expr);
      CHAT_ASSIGN_OR_RETURN(Value object, Eval(*node.object));
      if (object.is_undefined()) return UndefinedError(object);
      return GetAttribute(object, node.name);
    }
    case Expr::Kind::kItem: {
      const auto& node = static_cast<const ItemExpr&>(expr);
      CHAT_ASSIGN_OR_RETURN(Value object, Eval(*node.object));
      if (object.is_undefined()) return UndefinedError(object);
      CHAT_ASSIGN_OR_RETURN(Value key, Eval(*node.index));
      return GetItem(object, key);
    }
    case Expr::Kind::kSlice: {
      const auto& node = static_cast<const SliceExpr&>(expr);
      CHAT_ASSIGN_OR_RETURN(Value object, Eval(*node.object));
      if (object.is_undefined()) return UndefinedError(object);
      Value bounds[3] = {Value::None(), Value::None(), Value::None()};
      const Expr* exprs[3] = {node.start.get(), node.stop.get(), node.step.get()};
      for (int i = 0; i < 3; ++i) {
        if (exprs[i] != nullptr) {
          CHAT_ASSIGN_OR_RETURN(bounds[i], Eval(*exprs[i]));
        }
      }
      return GetSlice(object, bounds[0], bounds[1], bounds[2]);
    }
    case Expr::Kind::kCall: {
      const auto& node = static_cast<const CallExpr&>(expr);
      CHAT_ASSIGN_OR_RETURN(Value callee, Eval(*node.callee));
      CHAT_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(node.args));
      CHAT_ASSIGN_OR_RETURN(Value result, Call(callee, std::move(args)));
      if (result.is_string()) CHAT_RETURN_IF_ERROR(Built(result.string_value().size()));
      return result;
    }
    case Expr::Kind::kFilter: {
      const auto& node = static_cast<const FilterExpr&>(expr);
      CHAT_ASSIGN_OR_RETURN(Value input, Eval(*node.operand));
      CHAT_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(node.filter.args));
      CHAT_ASSIGN_OR_RETURN(Value result, ApplyFilter(node.filter.name, input, std::move(args)));
      if (result.is_string()) CHAT_RETURN_IF_ERROR(Built(result.string_value().size()));
      return result;
    }
    case Expr::Kind::kTest: {
      const auto& node = static_cast<const TestExpr&>(expr);
      CHAT_ASSIGN_OR_RETURN(Value input, Eval(*node.operand));
      CHAT_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(node.args));
      CHAT_ASSIGN_OR_RETURN(bool passed, ApplyTest(node.name, input, std::move(args)));
      return Value::Bool(passed != node.negated);
    }
    case Expr::Kind::kUnary: {
      const auto& node = static_cast<const UnaryExpr&>(expr);
      CHAT_ASSIGN_OR_RETURN(Value operand, Eval(*node.operand));
      if (node.op == UnaryExpr::Op::kNot) return Value::Bool(!operand.Truthy());
      return UnaryArithmetic(node.op, operand);
    }
    case Expr::Kind::kBinary: {
      const auto& node = static_cast<const BinaryExpr&>(expr);
      CHAT_ASSIGN_OR_RETURN(Value left, Eval(*node.left));
      if (node.op == BinaryExpr::Op::kAnd) return left.Truthy() ? Eval(*node.right) : left;
      if (node.op == BinaryExpr::Op::kOr) return left.Truthy() ? left : Eval(*node.right);
      CHAT_ASSIGN_OR_RETURN(Value right, Eval(*node.right));
      CHAT_ASSIGN_OR_RETURN(Value result,
                            Arithmetic(node.op, left, right, limits_.max_output_bytes));
      if (result.is_string()) CHAT_RETURN_IF_ERROR(Built(result.string_value().size()));
      if (result.is_list()) CHAT_RETURN_IF_ERROR(Built(result.list_items().size() * sizeof(Value)));
      return result;
    }
    case Expr::Kind::kConcat: {
      const auto& node = static_cast<const ConcatExpr&>(expr);
      std::string out;
      for (const ExprPtr& part : node.parts) {
        CHAT_ASSIGN_OR_RETURN(Value v, Eval(*part));
        out += ToStr(v);
        if (out.size() > limits_.max_output_bytes) {
          return absl::ResourceExhaustedError("the result of '~' is too long");
        }
      }
      CHAT_RETURN_IF_ERROR(Built(out.size()));
      return Value::String(std::move(out));
    }
    case Expr::Kind::kCompare: {
      const auto& node = static_cast<const CompareExpr&>(expr);
      CHAT_ASSIGN_OR_RETURN(Value left, Eval(*node.first));
      for (const auto& [op, operand] : node.rest) {
        CHAT_ASSIGN_OR_RETURN(Value right, Eval(*operand));
        CHAT_ASSIGN_OR_RETURN(bool holds, CompareValues(op, left, right));
        if (!holds) return Value::Bool(false);
        left = std::move(right);
      }
      return Value::Bool(true);
    }
    case Expr::Kind::kConditional: {
      const auto& node = static_cast<const ConditionalExpr&>(expr);
      CHAT_ASSIGN_OR_RETURN(Value condition, Eval(*node.condition));
      if (condition.Truthy()) return Eval(*node.then);
      if (node.otherwise != nullptr) return Eval(*node.otherwise);
      return Value::Undefined(absl::StrCat("the inline if-expression on line ", expr.line,
                                           " evaluated to false and no else section was defined."));
    }
  }
  return absl::InternalError("unknown expression kind");
}

absl::Status Evaluator::Assign(const AssignTarget& target, const Value& value, Scope* scope) {
  if (!target.namespace_attr.empty()) {
    Value ns = Lookup(target.names[0]);
    if (!ns.is_namespace()) {
      return absl::InvalidArgumentError("cannot assign attribute on non-namespace object");
    }
    if (assigned_namespace_ids_.insert(&ns.namespace_data()).second) {
      assigned_namespaces_.push_back(ns);
    }
    ns.namespace_data().attrs.Set(target.namespace_attr, value);
    return absl::OkStatus();
  }
  if (!target.unpack) {
    scope->vars[target.names[0]] = value;
    return absl::OkStatus();
  }
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(value));
  if (items.size() != target.names.size()) {
    return absl::InvalidArgumentError(
        items.size() > target.names.size()
            ? absl::StrCat("too many values to unpack (expected ", target.names.size(), ")")
            : absl::StrCat("not enough values to unpack (expected ", target.names.size(), ", got ",
                           items.size(), ")"));
  }
  for (size_t i = 0; i < items.size(); ++i) scope->vars[target.names[i]] = items[i];
  return absl::OkStatus();
}

absl::StatusOr<std::string> Evaluator::Capture(const Body& body) {
  std::string buffer;
  {
    CaptureGuard capture(this, &buffer);
    CHAT_ASSIGN_OR_RETURN(Flow flow, ExecBody(body));
    (void)flow;
  }
  return buffer;
}

absl::StatusOr<Value> Evaluator::ApplyFilters(const std::vector<FilterCall>& filters, Value value) {
  for (const FilterCall& filter : filters) {
    CHAT_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(filter.args));
    absl::StatusOr<Value> next = ApplyFilter(filter.name, value, std::move(args));
    if (!next.ok()) return AtLine(next.status(), filter.line);
    value = *std::move(next);
  }
  return value;
}

absl::StatusOr<Evaluator::Flow> Evaluator::Exec(const Stmt& stmt) {
  CHAT_RETURN_IF_ERROR(Step());
  switch (stmt.kind) {
    case Stmt::Kind::kText:
      CHAT_RETURN_IF_ERROR(Append(static_cast<const TextStmt&>(stmt).text));
      return Flow::kNormal;
    case Stmt::Kind::kOutput: {
      CHAT_ASSIGN_OR_RETURN(Value v, Eval(*static_cast<const OutputStmt&>(stmt).expr));
      CHAT_RETURN_IF_ERROR(Append(ToStr(v)));
      return Flow::kNormal;
    }
    case Stmt::Kind::kIf: {
      const auto& node = static_cast<const IfStmt&>(stmt);
      for (const IfStmt::Branch& branch : node.branches) {
        CHAT_ASSIGN_OR_RETURN(Value condition, Eval(*branch.condition));
        if (condition.Truthy()) return ExecBody(branch.body);
      }
      return ExecBody(node.otherwise);
    }
    case Stmt::Kind::kFor:
      return ExecFor(static_cast<const ForStmt&>(stmt));
    case Stmt::Kind::kSet: {
      const auto& node = static_cast<const SetStmt&>(stmt);
      CHAT_ASSIGN_OR_RETURN(Value v, Eval(*node.value));
      CHAT_RETURN_IF_ERROR(Assign(node.target, v, scope_));
      return Flow::kNormal;
    }
    case Stmt::Kind::kSetBlock: {
      const auto& node = static_cast<const SetBlockStmt&>(stmt);
      CHAT_ASSIGN_OR_RETURN(std::string text, Capture(node.body));
      CHAT_ASSIGN_OR_RETURN(Value v, ApplyFilters(node.filters, Value::String(std::move(text))));
      CHAT_RETURN_IF_ERROR(Assign(node.target, v, scope_));
      return Flow::kNormal;
    }
    case Stmt::Kind::kMacro: {
      const auto& node = static_cast<const MacroStmt&>(stmt);
      scope_->vars[node.name] = Value::FromCallable(std::make_shared<const Macro>(this, &node));
      return Flow::kNormal;
    }
    case Stmt::Kind::kFilterBlock: {
      const auto& node = static_cast<const FilterBlockStmt&>(stmt);
      CHAT_ASSIGN_OR_RETURN(std::string text, Capture(node.body));
      CHAT_ASSIGN_OR_RETURN(Value v, ApplyFilters(node.filters, Value::String(std::move(text))));
      CHAT_RETURN_IF_ERROR(Append(ToStr(v)));
      return Flow::kNormal;
    }
    case Stmt::Kind::kScope: {
      const auto& node = static_cast<const ScopeStmt&>(stmt);
      Scope scope{scope_, {}};
      for (const auto& [name, value_expr] : node.assignments) {  // evaluated outside the scope
        CHAT_ASSIGN_OR_RETURN(Value v, Eval(*value_expr));
        scope.vars[name] = std::move(v);
      }
      ScopeGuard guard(this, &scope);
      return ExecBody(node.body);
    }
    case Stmt::Kind::kBreak:
      return Flow::kBreak;
    case Stmt::Kind::kContinue:
      return Flow::kContinue;
  }
  return absl::InternalError("unknown statement kind");
}

absl::StatusOr<Evaluator::Flow> Evaluator::ExecFor(const ForStmt& node) {
  CHAT_ASSIGN_OR_RETURN(Value iterable, Eval(*node.iterable));
  CHAT_ASSIGN_OR_RETURN(ValueList all, Iterate(iterable));
  Scope* const outer = scope_;
  auto items = std::make_shared<ValueList>();
  if (node.filter == nullptr) {
    *items = std::move(all);
  } else {
    for (Value& item : all) {
      CHAT_RETURN_IF_ERROR(Step());
      Scope scope{outer, {}};
      CHAT_RETURN_IF_ERROR(Assign(node.target, item, &scope));
      ScopeGuard guard(this, &scope);
      CHAT_ASSIGN_OR_RETURN(Value keep, Eval(*node.filter));
      if (keep.Truthy()) items->push_back(std::move(item));
    }
  }
  std::shared_ptr<const ValueList> visited = std::move(items);
  for (size_t i = 0; i < visited->size(); ++i) {
    CHAT_RETURN_IF_ERROR(Step());
    Scope scope{outer, {}};
    CHAT_RETURN_IF_ERROR(AtLine(Assign(node.target, (*visited)[i], &scope), node.line));
    auto loop = std::make_shared<LoopData>();
    loop->items = visited;
    loop->index0 = static_cast<int64_t>(i);
    scope.vars["loop"] = Value::Loop(std::move(loop));
    ScopeGuard guard(this, &scope);
    CHAT_ASSIGN_OR_RETURN(Flow flow, ExecBody(node.body));
    if (flow == Flow::kBreak) break;
  }
  if (visited->empty()) return ExecBody(node.otherwise);
  return Flow::kNormal;
}

absl::StatusOr<Value> Evaluator::CallMacro(const MacroStmt& node, CallArgs args) {
  if (call_depth_ >= limits_.max_call_depth) {
    return absl::ResourceExhaustedError(
        absl::StrCat("macro calls nested more than ", limits_.max_call_depth, " deep"));
  }
  Scope scope{&root_, {}};
  const size_t n = node.params.size();
  std::vector<bool> bound(n, false);
  ValueList extra_positional;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < n) {
      scope.vars[node.params[i]] = std::move(args.positional[i]);
      bound[i] = true;
    } else if (node.uses_varargs) {
      extra_positional.push_back(std::move(args.positional[i]));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("macro '", node.name, "' takes not more than ", n, " argument(s)"));
    }
  }
  Dict extra_keyword;
  for (auto& [name, value] : args.keyword) {
    size_t i = 0;
    while (i < n && node.params[i] != name) ++i;
    if (i < n) {
      if (bound[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat("macro '", node.name, "' got multiple values for argument '", name, "'"));
      }
      scope.vars[name] = std::move(value);
      bound[i] = true;
    } else if (node.uses_kwargs) {
      extra_keyword.Set(name, std::move(value));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("macro '", node.name, "' takes no keyword argument '", name, "'"));
    }
  }
  if (node.uses_varargs) scope.vars["varargs"] = Value::Tuple(std::move(extra_positional));
  if (node.uses_kwargs) scope.vars["kwargs"] = Value::FromDict(std::move(extra_keyword));
  ++call_depth_;
  absl::StatusOr<std::string> text = [&]() -> absl::StatusOr<std::string> {
    ScopeGuard guard(this, &scope);
    for (size_t i = 0; i < n; ++i) {  // defaults see the parameters before them
      if (bound[i]) continue;
      if (node.defaults[i] == nullptr) {
        scope.vars[node.params[i]] =
            Value::Undefined(absl::StrCat("parameter '", node.params[i], "' was not provided"));
      } else {
        CHAT_ASSIGN_OR_RETURN(scope.vars[node.params[i]], Eval(*node.defaults[i]));
      }
    }
    return Capture(node.body);
  }();
  --call_depth_;
  if (!text.ok()) return text.status();
  return Value::String(*std::move(text));
}

}  // namespace

absl::StatusOr<std::string> RenderProgram(const Program& program, const Dict& variables,
                                          const RenderEnvironment& environment) {
  Evaluator evaluator(environment, variables);
  return evaluator.Run(program);
}

}  // namespace kvserve::jinja
