#include "engine/chat/jinja_predicates.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "engine/chat/jinja_filters.h"
#include "engine/chat/jinja_operators.h"
#include "engine/chat/jinja_text.h"
#include "engine/chat/status_macros.h"

namespace kvserve::jinja {
namespace {

// The one argument of a comparison test (`x is eq 3`, `x is divisibleby(3)`).
absl::StatusOr<Value> OneArg(absl::string_view test, const CallArgs& args) {
  static constexpr const char* kNames[] = {"other"};
  CHAT_ASSIGN_OR_RETURN(auto a, BindArgs(test, args, kNames));
  if (!a[0].has_value()) return CallError(absl::StrCat("test '", test, "' takes one argument"));
  return *a[0];
}

absl::Status NoArgs(absl::string_view test, const CallArgs& args) {
  if (!args.positional.empty() || !args.keyword.empty()) {
    return CallError(absl::StrCat("test '", test, "' takes no arguments"));
  }
  return absl::OkStatus();
}

#define CHAT_SIMPLE_TEST(fn, name, expr)                                        \
  absl::StatusOr<bool> fn(Interpreter&, const Value& v, const CallArgs& args) { \
    CHAT_RETURN_IF_ERROR(NoArgs(name, args));                                   \
    return (expr);                                                              \
  }

CHAT_SIMPLE_TEST(TestDefined, "defined", !v.is_undefined())
CHAT_SIMPLE_TEST(TestUndefined, "undefined", v.is_undefined())
CHAT_SIMPLE_TEST(TestNone, "none", v.is_none())
CHAT_SIMPLE_TEST(TestBoolean, "boolean", v.is_bool())
CHAT_SIMPLE_TEST(TestTrue, "true", v.is_bool() && v.bool_value())
CHAT_SIMPLE_TEST(TestFalse, "false", v.is_bool() && !v.bool_value())
CHAT_SIMPLE_TEST(TestInteger, "integer", v.is_int())
CHAT_SIMPLE_TEST(TestFloat, "float", v.is_float())
CHAT_SIMPLE_TEST(TestNumber, "number", v.is_number())
CHAT_SIMPLE_TEST(TestString, "string", v.is_string())
CHAT_SIMPLE_TEST(TestMapping, "mapping", v.is_dict())
CHAT_SIMPLE_TEST(TestIterable, "iterable",
                 v.is_undefined() || v.is_string() || v.is_list() || v.is_dict())
CHAT_SIMPLE_TEST(TestSequence, "sequence",
                 v.is_undefined() || v.is_string() || v.is_list() || v.is_dict())
CHAT_SIMPLE_TEST(TestCallable, "callable", v.is_callable())
CHAT_SIMPLE_TEST(TestLower, "lower", v.is_string() && PyIsLower(v.string_value()))
CHAT_SIMPLE_TEST(TestUpper, "upper", v.is_string() && PyIsUpper(v.string_value()))
CHAT_SIMPLE_TEST(TestFilter, "filter", v.is_string() && FindFilter(v.string_value()) != nullptr)
CHAT_SIMPLE_TEST(TestTest, "test", v.is_string() && FindTest(v.string_value()) != nullptr)

#undef CHAT_SIMPLE_TEST

// value % divisor == 0 (odd: == 1), Python's modulo.
absl::StatusOr<bool> ModuloIs(const Value& v, const Value& divisor, int64_t expected) {
  CHAT_ASSIGN_OR_RETURN(Value r, Arithmetic(BinaryExpr::Op::kMod, v, divisor, 0));
  return Equals(r, Value::Int(expected));
}

absl::StatusOr<bool> TestOdd(Interpreter&, const Value& v, const CallArgs& args) {
  CHAT_RETURN_IF_ERROR(NoArgs("odd", args));
  return ModuloIs(v, Value::Int(2), 1);
}
absl::StatusOr<bool> TestEven(Interpreter&, const Value& v, const CallArgs& args) {
  CHAT_RETURN_IF_ERROR(NoArgs("even", args));
  return ModuloIs(v, Value::Int(2), 0);
}
absl::StatusOr<bool> TestDivisibleBy(Interpreter&, const Value& v, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Value divisor, OneArg("divisibleby", args));
  return ModuloIs(v, divisor, 0);
}

template <CompareExpr::Op op>
absl::StatusOr<bool> TestCompare(Interpreter&, const Value& v, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Value other, OneArg("comparison", args));
  return CompareValues(op, v, other);
}

absl::StatusOr<bool> TestIn(Interpreter&, const Value& v, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Value seq, OneArg("in", args));
  return Contains(seq, v);
}

absl::StatusOr<bool> TestSameAs(Interpreter&, const Value& v, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Value other, OneArg("sameas", args));
  return v.SameAs(other);
}

const absl::flat_hash_map<absl::string_view, TestFn>& Registry() {
  using Op = CompareExpr::Op;
  static const auto* registry = new absl::flat_hash_map<absl::string_view, TestFn>{
      {"defined", TestDefined},
      {"undefined", TestUndefined},
      {"none", TestNone},
      {"boolean", TestBoolean},
      {"true", TestTrue},
      {"false", TestFalse},
      {"integer", TestInteger},
      {"float", TestFloat},
      {"number", TestNumber},
      {"string", TestString},
      {"mapping", TestMapping},
      {"iterable", TestIterable},
      {"sequence", TestSequence},
      {"callable", TestCallable},
      {"lower", TestLower},
      {"upper", TestUpper},
      {"filter", TestFilter},
      {"test", TestTest},
      {"odd", TestOdd},
      {"even", TestEven},
      {"divisibleby", TestDivisibleBy},
      {"eq", TestCompare<Op::kEq>},
      {"equalto", TestCompare<Op::kEq>},
      {"==", TestCompare<Op::kEq>},
      {"ne", TestCompare<Op::kNe>},
      {"!=", TestCompare<Op::kNe>},
      {"lt", TestCompare<Op::kLt>},
      {"lessthan", TestCompare<Op::kLt>},
      {"<", TestCompare<Op::kLt>},
      {"le", TestCompare<Op::kLe>},
      {"<=", TestCompare<Op::kLe>},
      {"gt", TestCompare<Op::kGt>},
      {"greaterthan", TestCompare<Op::kGt>},
      {">", TestCompare<Op::kGt>},
      {"ge", TestCompare<Op::kGe>},
      {">=", TestCompare<Op::kGe>},
      {"in", TestIn},
      {"sameas", TestSameAs},
  };
  return *registry;
}

}  // namespace

TestFn FindTest(absl::string_view name) {
  auto it = Registry().find(name);
  return it == Registry().end() ? nullptr : it->second;
}

bool IsJinjaTest(absl::string_view name) { return FindTest(name) != nullptr || name == "escaped"; }

}  // namespace kvserve::jinja
