#include "engine/chat/jinja_value.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/chat/jinja_callable.h"
#include "engine/chat/jinja_text.h"

namespace kvserve::jinja {

Value::Value() : v_(UndefinedTag{}) {}

Value Value::Undefined(std::string hint) {
  Value v;
  v.v_ = UndefinedTag{std::move(hint)};
  return v;
}
Value Value::None() {
  Value v;
  v.v_ = NoneTag{};
  return v;
}
Value Value::Bool(bool b) {
  Value v;
  v.v_ = b;
  return v;
}
Value Value::Int(int64_t i) {
  Value v;
  v.v_ = i;
  return v;
}
Value Value::Float(double f) {
  Value v;
  v.v_ = f;
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.v_ = std::make_shared<const std::string>(std::move(s));
  return v;
}
Value Value::List(ValueList items) {
  Value v;
  v.v_ = std::make_shared<const ListData>(ListData{std::move(items), false});
  return v;
}
Value Value::Tuple(ValueList items) {
  Value v;
  v.v_ = std::make_shared<const ListData>(ListData{std::move(items), true});
  return v;
}
Value Value::FromDict(Dict dict) {
  Value v;
  v.v_ = std::make_shared<const Dict>(std::move(dict));
  return v;
}
Value Value::NewNamespace(Dict attrs) {
  Value v;
  v.v_ = std::make_shared<NamespaceData>(NamespaceData{std::move(attrs)});
  return v;
}
Value Value::Loop(std::shared_ptr<const LoopData> loop) {
  Value v;
  v.v_ = std::move(loop);
  return v;
}
Value Value::FromCallable(std::shared_ptr<const Callable> callable) {
  Value v;
  v.v_ = std::move(callable);
  return v;
}

bool Value::is_tuple() const { return is_list() && std::get<6>(v_)->is_tuple; }
const ValueList& Value::list_items() const { return std::get<6>(v_)->items; }
const Dict& Value::dict() const { return *std::get<7>(v_); }
NamespaceData& Value::namespace_data() const { return *std::get<8>(v_); }
const LoopData& Value::loop() const { return *std::get<9>(v_); }
const Callable& Value::callable() const { return *std::get<10>(v_); }

int64_t Value::AsInt() const { return is_bool() ? (bool_value() ? 1 : 0) : int_value(); }
double Value::AsDouble() const { return is_float() ? float_value() : static_cast<double>(AsInt()); }

bool Value::Truthy() const {
  switch (kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return bool_value();
    case Kind::kInt:
      return int_value() != 0;
    case Kind::kFloat:
      return float_value() != 0.0;
    case Kind::kString:
      return !string_value().empty();
    case Kind::kList:
      return !list_items().empty();
    case Kind::kDict:
      return !dict().empty();
    case Kind::kNamespace:
    case Kind::kLoop:
    case Kind::kCallable:
      return true;
  }
  return false;
}

absl::string_view Value::TypeName() const {
  switch (kind()) {
    case Kind::kUndefined:
      return "Undefined";
    case Kind::kNone:
      return "NoneType";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "str";
    case Kind::kList:
      return is_tuple() ? "tuple" : "list";
    case Kind::kDict:
      return "dict";
    case Kind::kNamespace:
      return "Namespace";
    case Kind::kLoop:
      return "LoopContext";
    case Kind::kCallable:
      return "function";
  }
  return "object";
}

bool Value::SameAs(const Value& other) const {
  if (kind() != other.kind()) return false;
  switch (kind()) {
    case Kind::kList:
      return std::get<6>(v_) == std::get<6>(other.v_);
    case Kind::kDict:
      return std::get<7>(v_) == std::get<7>(other.v_);
    case Kind::kNamespace:
      return std::get<8>(v_) == std::get<8>(other.v_);
    case Kind::kLoop:
      return std::get<9>(v_) == std::get<9>(other.v_);
    case Kind::kCallable:
      return std::get<10>(v_) == std::get<10>(other.v_);
    default:
      return Equals(*this, other);  // scalars: Python shares small ints, None, True, False
  }
}

std::optional<std::string> DictKey(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kString:
      return absl::StrCat("s", value.string_value());
    case Value::Kind::kBool:
    case Value::Kind::kInt:
      return absl::StrCat("i", value.AsInt());
    case Value::Kind::kFloat: {
      const double f = value.float_value();
      if (f == std::floor(f) && std::fabs(f) < 9.2e18) {
        return absl::StrCat("i", static_cast<int64_t>(f));  // 1.0 is the key 1
      }
      return absl::StrCat("f", FloatRepr(f));
    }
    case Value::Kind::kNone:
      return std::string("n");
    case Value::Kind::kList: {
      if (!value.is_tuple()) return std::nullopt;
      std::string key = "t(";
      for (const Value& item : value.list_items()) {
        std::optional<std::string> part = DictKey(item);
        if (!part) return std::nullopt;
        absl::StrAppend(&key, part->size(), ":", *part);
      }
      return key + ")";
    }
    default:
      return std::nullopt;
  }
}

const Value* Dict::Find(const Value& key) const {
  std::optional<std::string> k = DictKey(key);
  if (!k) return nullptr;
  auto it = index_.find(*k);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Value* Dict::Find(absl::string_view key) const {
  auto it = index_.find(absl::StrCat("s", key));
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

bool Dict::Set(Value key, Value value) {
  std::optional<std::string> k = DictKey(key);
  if (!k) return false;
  auto [it, inserted] = index_.try_emplace(*std::move(k), entries_.size());
  if (inserted) {
    entries_.emplace_back(std::move(key), std::move(value));
  } else {
    entries_[it->second].second = std::move(value);
  }
  return true;
}

std::string FloatRepr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  std::string_view sci(buf, result.ptr - buf);  // "-1.2345e+02": shortest round-trip digits
  std::string out;
  if (sci.front() == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  const int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  if (exponent >= -4 && exponent < 16) {
    if (exponent >= 0) {
      const size_t int_digits = static_cast<size_t>(exponent) + 1;
      if (digits.size() <= int_digits) {
        out.append(digits);
        out.append(int_digits - digits.size(), '0');
        out.append(".0");
      } else {
        out.append(digits, 0, int_digits);
        out.push_back('.');
        out.append(digits, int_digits, std::string::npos);
      }
    } else {
      out.append("0.");
      out.append(static_cast<size_t>(-exponent - 1), '0');
      out.append(digits);
    }
    return out;
  }
  out.push_back(digits[0]);
  if (digits.size() > 1) {
    out.push_back('.');
    out.append(digits, 1, std::string::npos);
  }
  const int magnitude = std::abs(exponent);
  absl::StrAppend(&out, "e", exponent < 0 ? "-" : "+", magnitude < 10 ? "0" : "", magnitude);
  return out;
}

namespace {

// Only a namespace can contain itself; past this depth printing gives up with "...".
constexpr int kMaxPrintDepth = 64;

void AppendRepr(const Value& v, std::string* out, int depth);

void AppendStr(const Value& v, std::string* out, int depth) {
  if (depth > kMaxPrintDepth) {
    out->append("...");
    return;
  }
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return;
    case Value::Kind::kNone:
      out->append("None");
      return;
    case Value::Kind::kBool:
      out->append(v.bool_value() ? "True" : "False");
      return;
    case Value::Kind::kInt:
      absl::StrAppend(out, v.int_value());
      return;
    case Value::Kind::kFloat:
      out->append(FloatRepr(v.float_value()));
      return;
    case Value::Kind::kString:
      out->append(v.string_value());
      return;
    case Value::Kind::kList: {
      const bool tuple = v.is_tuple();
      out->push_back(tuple ? '(' : '[');
      const ValueList& items = v.list_items();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out->append(", ");
        AppendRepr(items[i], out, depth + 1);
      }
      if (tuple && items.size() == 1) out->push_back(',');
      out->push_back(tuple ? ')' : ']');
      return;
    }
    case Value::Kind::kDict: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, value] : v.dict().entries()) {
        if (!first) out->append(", ");
        first = false;
        AppendRepr(key, out, depth + 1);
        out->append(": ");
        AppendRepr(value, out, depth + 1);
      }
      out->push_back('}');
      return;
    }
    case Value::Kind::kNamespace: {
      out->append("<Namespace ");
      AppendStr(Value::FromDict(v.namespace_data().attrs), out, depth + 1);
      out->push_back('>');
      return;
    }
    case Value::Kind::kLoop:
      absl::StrAppend(out, "<LoopContext ", v.loop().index0 + 1, "/", v.loop().items->size(), ">");
      return;
    case Value::Kind::kCallable:
      absl::StrAppend(out, "<", v.callable().Describe(), ">");
      return;
  }
}

void AppendRepr(const Value& v, std::string* out, int depth) {
  if (v.is_string()) {
    out->append(PyStrRepr(v.string_value()));
  } else if (v.is_undefined()) {
    out->append("Undefined");
  } else {
    AppendStr(v, out, depth);
  }
}

}  // namespace

std::string ToStr(const Value& value) {
  if (value.is_string()) return value.string_value();
  std::string out;
  AppendStr(value, &out, 0);
  return out;
}

std::string Repr(const Value& value) {
  std::string out;
  AppendRepr(value, &out, 0);
  return out;
}

bool Equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.AsInt() == b.AsInt();
    return a.AsDouble() == b.AsDouble();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.string_value() == b.string_value();
    case Value::Kind::kList: {
      if (a.is_tuple() != b.is_tuple()) return false;
      const ValueList& x = a.list_items();
      const ValueList& y = b.list_items();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!Equals(x[i], y[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [key, value] : a.dict().entries()) {
        const Value* other = b.dict().Find(key);
        if (other == nullptr || !Equals(value, *other)) return false;
      }
      return true;
    }
    default:
      return a.SameAs(b);
  }
}

absl::StatusOr<int> Compare(const Value& a, const Value& b) {
  if (a.is_undefined() || b.is_undefined()) {
    const Value& u = a.is_undefined() ? a : b;
    return absl::InvalidArgumentError(u.undefined_hint());
  }
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) {
      return a.AsInt() < b.AsInt() ? -1 : (a.AsInt() > b.AsInt() ? 1 : 0);
    }
    const double x = a.AsDouble(), y = b.AsDouble();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.string_value().compare(b.string_value());  // UTF-8 byte order = code points
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const ValueList& x = a.list_items();
    const ValueList& y = b.list_items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (Equals(x[i], y[i])) continue;
      return Compare(x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("cannot order values of types '", a.TypeName(), "' and '", b.TypeName(), "'"));
}

absl::StatusOr<ValueList> Iterate(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return ValueList{};
    case Value::Kind::kList:
      return value.list_items();
    case Value::Kind::kDict: {
      ValueList keys;
      keys.reserve(value.dict().size());
      for (const auto& entry : value.dict().entries()) keys.push_back(entry.first);
      return keys;
    }
    case Value::Kind::kString: {
      ValueList chars;
      for (std::string& c : SplitCodePoints(value.string_value())) {
        chars.push_back(Value::String(std::move(c)));
      }
      return chars;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("'", value.TypeName(), "' object is not iterable"));
  }
}

absl::StatusOr<int64_t> Length(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kString:
      return CodePointCount(value.string_value());
    case Value::Kind::kList:
      return static_cast<int64_t>(value.list_items().size());
    case Value::Kind::kDict:
      return static_cast<int64_t>(value.dict().size());
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("object of type '", value.TypeName(), "' has no len()"));
  }
}

}  // namespace kvserve::jinja
