#include "engine/chat/jinja_operators.h"

#include <cmath>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kvserve::jinja {
namespace {

absl::Status Error(absl::string_view message) { return absl::InvalidArgumentError(message); }

absl::Status UndefinedOperand(const Value& v) {
  return Error(v.undefined_hint().empty() ? "undefined value" : v.undefined_hint());
}

absl::string_view Symbol(BinaryExpr::Op op) {
  switch (op) {
    case BinaryExpr::Op::kAdd:
      return "+";
    case BinaryExpr::Op::kSub:
      return "-";
    case BinaryExpr::Op::kMul:
      return "*";
    case BinaryExpr::Op::kDiv:
      return "/";
    case BinaryExpr::Op::kFloorDiv:
      return "//";
    case BinaryExpr::Op::kMod:
      return "%";
    case BinaryExpr::Op::kPow:
      return "**";
    case BinaryExpr::Op::kAnd:
      return "and";
    case BinaryExpr::Op::kOr:
      return "or";
  }
  return "?";
}

absl::Status Unsupported(BinaryExpr::Op op, const Value& a, const Value& b) {
  return Error(absl::StrCat("unsupported operand type(s) for ", Symbol(op), ": '", a.TypeName(),
                            "' and '", b.TypeName(), "'"));
}

absl::Status Overflow() { return Error("integer overflow (beyond 64 bits)"); }

// CPython's float floor division and modulo (float_divmod).
void FloatDivMod(double x, double y, double* floordiv, double* mod) {
  double m = std::fmod(x, y);
  double div = (x - m) / y;
  if (m != 0) {
    if ((y < 0) != (m < 0)) {
      m += y;
      div -= 1.0;
    }
  } else {
    m = std::copysign(0.0, y);
  }
  double fd;
  if (div != 0) {
    fd = std::floor(div);
    if (div - fd > 0.5) fd += 1.0;
  } else {
    fd = std::copysign(0.0, x / y);
  }
  *floordiv = fd;
  *mod = m;
}

absl::StatusOr<Value> Repeat(const Value& sequence, int64_t times, size_t max_bytes) {
  if (times < 0) times = 0;
  if (sequence.is_string()) {
    const std::string& s = sequence.string_value();
    if (!s.empty() && static_cast<uint64_t>(times) > max_bytes / s.size()) {
      return Error("the result of '*' is too long");
    }
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += s;
    return Value::String(std::move(out));
  }
  const ValueList& items = sequence.list_items();
  if (!items.empty() && static_cast<uint64_t>(times) > max_bytes / items.size()) {
    return Error("the result of '*' is too long");
  }
  ValueList out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return sequence.is_tuple() ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
}

absl::StatusOr<Value> IntegerPower(int64_t base, int64_t exponent) {
  int64_t result = 1;
  while (exponent > 0) {
    if (exponent & 1) {
      if (__builtin_mul_overflow(result, base, &result)) return Overflow();
    }
    exponent >>= 1;
    if (exponent > 0 && __builtin_mul_overflow(base, base, &base)) return Overflow();
  }
  return Value::Int(result);
}

}  // namespace

absl::StatusOr<Value> Arithmetic(BinaryExpr::Op op, const Value& a, const Value& b,
                                 size_t max_bytes) {
  if (a.is_undefined()) return UndefinedOperand(a);
  if (b.is_undefined()) return UndefinedOperand(b);
  const bool numbers = a.is_number() && b.is_number();
  const bool ints = a.is_integral() && b.is_integral();
  switch (op) {
    case BinaryExpr::Op::kAdd:
      if (ints) {
        int64_t r;
        if (__builtin_add_overflow(a.AsInt(), b.AsInt(), &r)) return Overflow();
        return Value::Int(r);
      }
      if (numbers) return Value::Float(a.AsDouble() + b.AsDouble());
      if (a.is_string() && b.is_string()) {
        if (a.string_value().size() + b.string_value().size() > max_bytes) {
          return Error("the result of '+' is too long");
        }
        return Value::String(a.string_value() + b.string_value());
      }
      if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
        if (a.list_items().size() + b.list_items().size() > max_bytes) {
          return Error("the result of '+' is too long");
        }
        ValueList out = a.list_items();
        out.insert(out.end(), b.list_items().begin(), b.list_items().end());
        return a.is_tuple() ? Value::Tuple(std::move(out)) : Value::List(std::move(out));
      }
      if (a.is_string() || a.is_list()) {
        return Error(absl::StrCat("can only concatenate ", a.TypeName(), " (not \"", b.TypeName(),
                                  "\") to ", a.TypeName()));
      }
      return Unsupported(op, a, b);
    case BinaryExpr::Op::kSub:
      if (ints) {
        int64_t r;
        if (__builtin_sub_overflow(a.AsInt(), b.AsInt(), &r)) return Overflow();
        return Value::Int(r);
      }
      if (numbers) return Value::Float(a.AsDouble() - b.AsDouble());
      return Unsupported(op, a, b);
    case BinaryExpr::Op::kMul:
      if (ints) {
        int64_t r;
        if (__builtin_mul_overflow(a.AsInt(), b.AsInt(), &r)) return Overflow();
        return Value::Int(r);
      }
      if (numbers) return Value::Float(a.AsDouble() * b.AsDouble());
      if ((a.is_string() || a.is_list()) && b.is_integral()) return Repeat(a, b.AsInt(), max_bytes);
      if (a.is_integral() && (b.is_string() || b.is_list())) return Repeat(b, a.AsInt(), max_bytes);
      return Unsupported(op, a, b);
    case BinaryExpr::Op::kDiv:
      if (!numbers) return Unsupported(op, a, b);
      if (b.AsDouble() == 0) return Error("division by zero");
      return Value::Float(a.AsDouble() / b.AsDouble());
    case BinaryExpr::Op::kFloorDiv:
    case BinaryExpr::Op::kMod: {
      if (a.is_string() && op == BinaryExpr::Op::kMod) {
        return Error("printf-style string formatting ('%' on a string) is not supported");
      }
      if (!numbers) return Unsupported(op, a, b);
      if (ints) {
        const int64_t x = a.AsInt(), y = b.AsInt();
        if (y == 0) return Error("integer division or modulo by zero");
        if (x == std::numeric_limits<int64_t>::min() && y == -1) return Overflow();
        int64_t q = x / y, r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) {
          r += y;
          q -= 1;
        }
        return Value::Int(op == BinaryExpr::Op::kMod ? r : q);
      }
      if (b.AsDouble() == 0) return Error("float division by zero");
      double q, r;
      FloatDivMod(a.AsDouble(), b.AsDouble(), &q, &r);
      return Value::Float(op == BinaryExpr::Op::kMod ? r : q);
    }
    case BinaryExpr::Op::kPow: {
      if (!numbers) return Unsupported(op, a, b);
      if (ints && b.AsInt() >= 0) return IntegerPower(a.AsInt(), b.AsInt());
      const double x = a.AsDouble(), y = b.AsDouble();
      if (x == 0 && y < 0) return Error("0.0 cannot be raised to a negative power");
      if (x < 0 && y != std::floor(y)) return Error("complex results are not supported");
      return Value::Float(std::pow(x, y));
    }
    case BinaryExpr::Op::kAnd:
    case BinaryExpr::Op::kOr:
      break;
  }
  return Error("not an arithmetic operator");
}

absl::StatusOr<Value> UnaryArithmetic(UnaryExpr::Op op, const Value& a) {
  if (op == UnaryExpr::Op::kNot) return Value::Bool(!a.Truthy());
  if (a.is_undefined()) return UndefinedOperand(a);
  const bool negate = op == UnaryExpr::Op::kNegate;
  if (a.is_integral()) {
    if (!negate) return Value::Int(a.AsInt());
    if (a.AsInt() == std::numeric_limits<int64_t>::min()) return Overflow();
    return Value::Int(-a.AsInt());
  }
  if (a.is_float()) return Value::Float(negate ? -a.float_value() : a.float_value());
  return Error(
      absl::StrCat("bad operand type for unary ", negate ? "-" : "+", ": '", a.TypeName(), "'"));
}

absl::StatusOr<bool> CompareValues(CompareExpr::Op op, const Value& a, const Value& b) {
  switch (op) {
    case CompareExpr::Op::kEq:
      return Equals(a, b);
    case CompareExpr::Op::kNe:
      return !Equals(a, b);
    case CompareExpr::Op::kIn:
      return Contains(b, a);
    case CompareExpr::Op::kNotIn: {
      absl::StatusOr<bool> in = Contains(b, a);
      if (!in.ok()) return in.status();
      return !*in;
    }
    default:
      break;
  }
  absl::StatusOr<int> order = Compare(a, b);
  if (!order.ok()) {
    if (a.is_undefined() || b.is_undefined()) return order.status();
    const char* symbol = op == CompareExpr::Op::kLt   ? "<"
                         : op == CompareExpr::Op::kLe ? "<="
                         : op == CompareExpr::Op::kGt ? ">"
                                                      : ">=";
    return Error(absl::StrCat("'", symbol, "' not supported between instances of '", a.TypeName(),
                              "' and '", b.TypeName(), "'"));
  }
  switch (op) {
    case CompareExpr::Op::kLt:
      return *order < 0;
    case CompareExpr::Op::kLe:
      return *order <= 0;
    case CompareExpr::Op::kGt:
      return *order > 0;
    default:
      return *order >= 0;
  }
}

absl::StatusOr<bool> Contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kString:
      if (!item.is_string()) {
        return Error(
            absl::StrCat("'in <string>' requires string as left operand, not ", item.TypeName()));
      }
      return container.string_value().find(item.string_value()) != std::string::npos;
    case Value::Kind::kList:
      for (const Value& v : container.list_items()) {
        if (Equals(v, item)) return true;
      }
      return false;
    case Value::Kind::kDict:
      if (!DictKey(item).has_value()) {
        return Error(absl::StrCat("unhashable type: '", item.TypeName(), "'"));
      }
      return container.dict().Find(item) != nullptr;
    default:
      return Error(absl::StrCat("argument of type '", container.TypeName(), "' is not iterable"));
  }
}

}  // namespace kvserve::jinja
