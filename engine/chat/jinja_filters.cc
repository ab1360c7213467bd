#include "engine/chat/jinja_filters.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/chat/jinja_json.h"
#include "engine/chat/jinja_methods.h"
#include "engine/chat/jinja_operators.h"
#include "engine/chat/jinja_text.h"
#include "engine/chat/status_macros.h"

namespace kvserve::jinja {
namespace {

using Args = std::vector<std::optional<Value>>;

absl::StatusOr<Args> Bind(absl::string_view filter, const CallArgs& args,
                          std::initializer_list<const char*> names) {
  return BindArgs(filter, args, std::vector<const char*>(names));
}

absl::Status UndefinedInput(const Value& v) {
  return CallError(v.undefined_hint().empty() ? "undefined value" : v.undefined_hint());
}

bool ArgTruthy(const std::optional<Value>& v) { return v.has_value() && v->Truthy(); }

// The sort / compare key of case-insensitive filters: strings lower-cased.
Value IgnoreCase(const Value& v, bool case_sensitive) {
  return (!case_sensitive && v.is_string()) ? Value::String(PyLower(v.string_value())) : v;
}

absl::StatusOr<std::string> OptionalAttribute(const std::optional<Value>& v) {
  if (!v.has_value() || v->is_none()) return std::string();
  if (v->is_integral()) return absl::StrCat(v->AsInt());
  if (!v->is_string()) return CallError("attribute must be a string");
  return v->string_value();
}

Value MaybeAttribute(const Value& item, const std::string& attribute) {
  return attribute.empty() ? item : GetAttributePath(item, attribute);
}

absl::StatusOr<Value> FilterAbs(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("abs", args, {}));
  if (in.is_integral()) {
    if (in.AsInt() == INT64_MIN) return CallError("integer overflow");
    return Value::Int(std::llabs(in.AsInt()));
  }
  if (in.is_float()) return Value::Float(std::fabs(in.float_value()));
  if (in.is_undefined()) return UndefinedInput(in);
  return CallError(absl::StrCat("bad operand type for abs(): '", in.TypeName(), "'"));
}

absl::StatusOr<Value> FilterAttr(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("attr", args, {"name"}));
  if (!a[0].has_value() || !a[0]->is_string()) return CallError("attr() needs a name");
  if (in.is_undefined()) return UndefinedInput(in);
  // jinja2's attr looks up attributes only, never a dict's items.
  if (in.is_dict() && in.dict().Find(a[0]->string_value()) != nullptr) {
    return Value::Undefined(
        absl::StrCat("'dict object' has no attribute '", a[0]->string_value(), "'"));
  }
  return GetAttribute(in, a[0]->string_value());
}

absl::StatusOr<Value> FilterDefault(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("default", args, {"default_value", "boolean"}));
  const bool use_default = in.is_undefined() || (ArgTruthy(a[1]) && !in.Truthy());
  if (!use_default) return in;
  return a[0].value_or(Value::String(""));
}

absl::StatusOr<Value> FilterDictsort(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("dictsort", args, {"case_sensitive", "by", "reverse"}));
  if (!in.is_dict()) return CallError("dictsort() needs a mapping");
  const bool by_value = a[1].has_value() && a[1]->is_string() && a[1]->string_value() == "value";
  if (a[1].has_value() && !by_value && !(a[1]->is_string() && a[1]->string_value() == "key")) {
    return CallError("You can only sort by either \"key\" or \"value\"");
  }
  std::vector<Dict::Entry> entries = in.dict().entries();
  absl::Status error;
  std::stable_sort(entries.begin(), entries.end(), [&](const Dict::Entry& x, const Dict::Entry& y) {
    const Value kx = IgnoreCase(by_value ? x.second : x.first, ArgTruthy(a[0]));
    const Value ky = IgnoreCase(by_value ? y.second : y.first, ArgTruthy(a[0]));
    absl::StatusOr<int> c = Compare(kx, ky);
    if (!c.ok()) error = c.status();
    return c.ok() && *c < 0;
  });
  CHAT_RETURN_IF_ERROR(error);
  if (ArgTruthy(a[2])) std::reverse(entries.begin(), entries.end());
  ValueList out;
  for (auto& [key, value] : entries) out.push_back(Value::Tuple({key, value}));
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FilterEscape(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("escape", args, {}));
  std::string out;
  for (char c : ToStr(in)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterFirstLast(const Value& in, const CallArgs& args, bool first) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind(first ? "first" : "last", args, {}));
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  if (items.empty())
    return Value::Undefined(first ? "No first item, sequence was empty."
                                  : "No last item, sequence was empty.");
  return first ? items.front() : items.back();
}
absl::StatusOr<Value> FilterFirst(Interpreter&, const Value& in, const CallArgs& args) {
  return FilterFirstLast(in, args, true);
}
absl::StatusOr<Value> FilterLast(Interpreter&, const Value& in, const CallArgs& args) {
  return FilterFirstLast(in, args, false);
}

// Python's float(str): surrounding whitespace, underscores between digits, inf / nan.
std::optional<double> ParsePyFloat(const std::string& text) {
  std::string s = PyStrip(text, std::nullopt, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_' && i > 0 && i + 1 < s.size() && std::isdigit(s[i - 1]) &&
        std::isdigit(s[i + 1])) {
      continue;
    }
    clean.push_back(s[i]);
  }
  if (clean.empty() || clean.find_first_of("xXpP") != std::string::npos) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return d;
}

absl::StatusOr<Value> FilterFloat(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("float", args, {"default"}));
  const Value fallback = a[0].value_or(Value::Float(0.0));
  if (in.is_undefined()) return UndefinedInput(in);
  if (in.is_number()) return Value::Float(in.AsDouble());
  if (in.is_string()) {
    if (std::optional<double> d = ParsePyFloat(in.string_value())) return Value::Float(*d);
  }
  return fallback;
}

absl::StatusOr<Value> FilterInt(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("int", args, {"default", "base"}));
  const Value fallback = a[0].value_or(Value::Int(0));
  if (in.is_undefined()) return UndefinedInput(in);
  if (in.is_integral()) return Value::Int(in.AsInt());
  if (in.is_float()) {
    const double f = in.float_value();
    if (!std::isfinite(f) || std::fabs(f) >= 9.2e18) return fallback;
    return Value::Int(static_cast<int64_t>(f));
  }
  if (!in.is_string()) return fallback;
  const int64_t base = a[1].has_value() && a[1]->is_integral() ? a[1]->AsInt() : 10;
  std::string s = PyStrip(in.string_value(), std::nullopt, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (!s.empty() && base >= 2 && base <= 36) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, static_cast<int>(base));
    if (errno == 0 && end == s.c_str() + s.size()) return Value::Int(v);
  }
  if (std::optional<double> d = ParsePyFloat(in.string_value())) {
    if (std::isfinite(*d) && std::fabs(*d) < 9.2e18) return Value::Int(static_cast<int64_t>(*d));
  }
  return fallback;
}

absl::StatusOr<Value> FilterIndent(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("indent", args, {"width", "first", "blank"}));
  std::string indentation = "    ";
  if (a[0].has_value()) {
    if (a[0]->is_string()) {
      indentation = a[0]->string_value();
    } else if (a[0]->is_integral()) {
      indentation = std::string(static_cast<size_t>(std::max<int64_t>(0, a[0]->AsInt())), ' ');
    } else {
      return CallError("indent() width must be an integer or a string");
    }
  }
  std::vector<std::string> lines = PySplitLines(ToStr(in) + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += "\n";
      if (ArgTruthy(a[2]) || !lines[i].empty()) out += indentation;
    }
    out += lines[i];
  }
  if (ArgTruthy(a[1])) out = indentation + out;
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterItems(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("items", args, {}));
  if (in.is_undefined()) return Value::List({});
  if (!in.is_dict()) return CallError("Can only get item pairs from a mapping.");
  ValueList out;
  for (const auto& [key, value] : in.dict().entries()) out.push_back(Value::Tuple({key, value}));
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FilterJoin(Interpreter& interpreter, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("join", args, {"d", "attribute"}));
  const std::string separator = a[0].has_value() ? ToStr(*a[0]) : "";
  CHAT_ASSIGN_OR_RETURN(std::string attribute, OptionalAttribute(a[1]));
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += ToStr(MaybeAttribute(items[i], attribute));
    if (out.size() > interpreter.max_string_bytes()) return CallError("join(): result too long");
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterLength(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("length", args, {}));
  CHAT_ASSIGN_OR_RETURN(int64_t n, Length(in));
  return Value::Int(n);
}

absl::StatusOr<Value> FilterList(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("list", args, {}));
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  return Value::List(std::move(items));
}

absl::StatusOr<Value> FilterMap(Interpreter& interpreter, const Value& in, const CallArgs& args) {
  if (!in.Truthy()) return Value::List({});  // jinja2: `if value:` (none maps to nothing)
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  ValueList out;
  out.reserve(items.size());
  const Value* attribute = nullptr;
  const Value* fallback = nullptr;
  for (const auto& [name, value] : args.keyword) {
    if (name == "attribute") {
      attribute = &value;
    } else if (name == "default") {
      fallback = &value;
    } else if (args.positional.empty()) {
      return CallError(absl::StrCat("map() got an unexpected keyword argument '", name, "'"));
    }
  }
  if (attribute != nullptr) {
    if (!args.positional.empty())
      return CallError("map() takes an attribute or a filter, not both");
    CHAT_ASSIGN_OR_RETURN(std::string path, OptionalAttribute(*attribute));
    for (const Value& item : items) {
      Value v = GetAttributePath(item, path);
      out.push_back((v.is_undefined() && fallback != nullptr) ? *fallback : v);
    }
    return Value::List(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string()) {
    return CallError("map() needs a filter name or attribute=");
  }
  const std::string filter = args.positional[0].string_value();
  CallArgs rest{ValueList(args.positional.begin() + 1, args.positional.end()), args.keyword};
  for (const Value& item : items) {
    CHAT_ASSIGN_OR_RETURN(Value v, interpreter.ApplyFilter(filter, item, rest));
    out.push_back(std::move(v));
  }
  return Value::List(std::move(out));
}

absl::StatusOr<Value> MinMax(const Value& in, const CallArgs& args, bool max) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind(max ? "max" : "min", args, {"case_sensitive", "attribute"}));
  CHAT_ASSIGN_OR_RETURN(std::string attribute, OptionalAttribute(a[1]));
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    CHAT_ASSIGN_OR_RETURN(
        int c, Compare(IgnoreCase(MaybeAttribute(items[i], attribute), ArgTruthy(a[0])),
                       IgnoreCase(MaybeAttribute(items[best], attribute), ArgTruthy(a[0]))));
    if (max ? c > 0 : c < 0) best = i;
  }
  return items[best];
}
absl::StatusOr<Value> FilterMax(Interpreter&, const Value& in, const CallArgs& args) {
  return MinMax(in, args, true);
}
absl::StatusOr<Value> FilterMin(Interpreter&, const Value& in, const CallArgs& args) {
  return MinMax(in, args, false);
}

// select / reject / selectattr / rejectattr.
absl::StatusOr<Value> SelectOrReject(Interpreter& interpreter, const Value& in,
                                     const CallArgs& args, bool select, bool by_attribute) {
  if (!in.Truthy()) return Value::List({});  // jinja2: `if value:` (none selects nothing)
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  size_t next = 0;
  std::string attribute;
  if (by_attribute) {
    if (args.positional.empty()) return CallError("Missing parameter for attribute name");
    CHAT_ASSIGN_OR_RETURN(attribute, OptionalAttribute(args.positional[0]));
    next = 1;
  }
  std::string test;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string()) return CallError("the test name must be a string");
    test = args.positional[next].string_value();
    ++next;
  }
  CallArgs test_args{ValueList(args.positional.begin() + next, args.positional.end()),
                     args.keyword};
  ValueList out;
  for (const Value& item : items) {
    const Value subject = by_attribute ? GetAttributePath(item, attribute) : item;
    bool passed;
    if (test.empty()) {
      passed = subject.Truthy();
    } else {
      CHAT_ASSIGN_OR_RETURN(passed, interpreter.ApplyTest(test, subject, test_args));
    }
    if (passed == select) out.push_back(item);
  }
  return Value::List(std::move(out));
}
absl::StatusOr<Value> FilterSelect(Interpreter& i, const Value& in, const CallArgs& args) {
  return SelectOrReject(i, in, args, true, false);
}
absl::StatusOr<Value> FilterReject(Interpreter& i, const Value& in, const CallArgs& args) {
  return SelectOrReject(i, in, args, false, false);
}
absl::StatusOr<Value> FilterSelectattr(Interpreter& i, const Value& in, const CallArgs& args) {
  return SelectOrReject(i, in, args, true, true);
}
absl::StatusOr<Value> FilterRejectattr(Interpreter& i, const Value& in, const CallArgs& args) {
  return SelectOrReject(i, in, args, false, true);
}

absl::StatusOr<Value> FilterReplace(Interpreter& interpreter, const Value& in,
                                    const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("replace", args, {"old", "new", "count"}));
  if (!a[0].has_value() || !a[1].has_value()) return CallError("replace() needs old and new");
  const int64_t count = (a[2].has_value() && a[2]->is_integral()) ? a[2]->AsInt() : -1;
  std::string out = PyReplace(ToStr(in), ToStr(*a[0]), ToStr(*a[1]), count);
  if (out.size() > interpreter.max_string_bytes()) return CallError("replace(): result too long");
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterReverse(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("reverse", args, {}));
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  std::reverse(items.begin(), items.end());
  if (!in.is_string()) return Value::List(std::move(items));
  std::string out;
  for (const Value& c : items) out += c.string_value();
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterRound(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("round", args, {"precision", "method"}));
  const int64_t precision = (a[0].has_value() && a[0]->is_integral()) ? a[0]->AsInt() : 0;
  const std::string method = a[1].has_value() ? ToStr(*a[1]) : "common";
  if (method != "common" && method != "ceil" && method != "floor") {
    return CallError("method must be common, ceil or floor");
  }
  if (in.is_undefined()) return UndefinedInput(in);
  if (!in.is_number()) return CallError(absl::StrCat("cannot round a '", in.TypeName(), "'"));
  if (method == "common") {
    if (in.is_integral() && precision >= 0) return Value::Int(in.AsInt());  // round(int, n)
    if (precision < 0 || precision > 300) return CallError("unsupported round() precision");
    // Python's round(): correctly rounded, ties to even, as printf's %.*f does.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(precision), in.AsDouble());
    return Value::Float(std::strtod(buf, nullptr));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = in.AsDouble() * scale;
  return Value::Float((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

absl::StatusOr<Value> FilterSafe(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("safe", args, {}));
  return Value::String(ToStr(in));
}

absl::StatusOr<Value> FilterSort(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("sort", args, {"reverse", "case_sensitive", "attribute"}));
  CHAT_ASSIGN_OR_RETURN(std::string attribute, OptionalAttribute(a[2]));
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  absl::Status error;
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    absl::StatusOr<int> c = Compare(IgnoreCase(MaybeAttribute(x, attribute), ArgTruthy(a[1])),
                                    IgnoreCase(MaybeAttribute(y, attribute), ArgTruthy(a[1])));
    if (!c.ok()) error = c.status();
    return c.ok() && *c < 0;
  });
  CHAT_RETURN_IF_ERROR(error);
  if (ArgTruthy(a[0])) std::reverse(items.begin(), items.end());
  return Value::List(std::move(items));
}

absl::StatusOr<Value> FilterString(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("string", args, {}));
  return Value::String(ToStr(in));
}

absl::StatusOr<Value> FilterSum(Interpreter& interpreter, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("sum", args, {"attribute", "start"}));
  CHAT_ASSIGN_OR_RETURN(std::string attribute, OptionalAttribute(a[0]));
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  Value total = a[1].value_or(Value::Int(0));
  for (const Value& item : items) {
    CHAT_ASSIGN_OR_RETURN(total,
                          Arithmetic(BinaryExpr::Op::kAdd, total, MaybeAttribute(item, attribute),
                                     interpreter.max_string_bytes()));
  }
  return total;
}

absl::StatusOr<Value> StringFilter(const Value& in, const CallArgs& args, absl::string_view name,
                                   std::string (*fn)(absl::string_view)) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind(name, args, {}));
  return Value::String(fn(ToStr(in)));
}
absl::StatusOr<Value> FilterUpper(Interpreter&, const Value& in, const CallArgs& args) {
  return StringFilter(in, args, "upper", PyUpper);
}
absl::StatusOr<Value> FilterLower(Interpreter&, const Value& in, const CallArgs& args) {
  return StringFilter(in, args, "lower", PyLower);
}
absl::StatusOr<Value> FilterCapitalize(Interpreter&, const Value& in, const CallArgs& args) {
  return StringFilter(in, args, "capitalize", PyCapitalize);
}
absl::StatusOr<Value> FilterTitle(Interpreter&, const Value& in, const CallArgs& args) {
  return StringFilter(in, args, "title", JinjaTitle);
}

absl::StatusOr<Value> FilterTojson(Interpreter& interpreter, const Value& in,
                                   const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(
      Args a, Bind("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"}));
  JsonDumpOptions options;
  options.ensure_ascii = ArgTruthy(a[0]);
  if (a[1].has_value() && !a[1]->is_none()) {
    if (a[1]->is_string()) {
      options.indent = a[1]->string_value();
    } else if (a[1]->is_integral()) {
      options.indent =
          std::string(static_cast<size_t>(std::clamp<int64_t>(a[1]->AsInt(), 0, 64)), ' ');
    } else {
      return CallError("tojson() indent must be an integer or a string");
    }
  }
  if (a[2].has_value() && !a[2]->is_none()) {
    if (!a[2]->is_list() || a[2]->list_items().size() != 2 || !a[2]->list_items()[0].is_string() ||
        !a[2]->list_items()[1].is_string()) {
      return CallError("tojson() separators must be a pair of strings");
    }
    options.item_separator = a[2]->list_items()[0].string_value();
    options.key_separator = a[2]->list_items()[1].string_value();
  }
  options.sort_keys = ArgTruthy(a[3]);
  CHAT_ASSIGN_OR_RETURN(std::string json, DumpJson(in, options));
  if (json.size() > interpreter.max_string_bytes()) return CallError("tojson(): result too long");
  return Value::String(std::move(json));
}

absl::StatusOr<Value> FilterTrim(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("trim", args, {"chars"}));
  std::optional<std::string> chars;
  if (a[0].has_value() && !a[0]->is_none()) chars = ToStr(*a[0]);
  return Value::String(PyStrip(ToStr(in), chars, true, true));
}

absl::StatusOr<Value> FilterUnique(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("unique", args, {"case_sensitive", "attribute"}));
  CHAT_ASSIGN_OR_RETURN(std::string attribute, OptionalAttribute(a[1]));
  CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(in));
  ValueList out, seen;
  for (const Value& item : items) {
    const Value key = IgnoreCase(MaybeAttribute(item, attribute), ArgTruthy(a[0]));
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return Equals(s, key); })) {
      continue;
    }
    seen.push_back(key);
    out.push_back(item);
  }
  return Value::List(std::move(out));
}

absl::StatusOr<Value> FilterWordcount(Interpreter&, const Value& in, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Args a, Bind("wordcount", args, {}));
  int64_t words = 0;
  bool in_word = false;
  for (const std::string& c : SplitCodePoints(ToStr(in))) {
    const bool word_char = c == "_" || PyIsAlnum(c);
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return Value::Int(words);
}

const absl::flat_hash_map<absl::string_view, FilterFn>& Registry() {
  static const auto* registry = new absl::flat_hash_map<absl::string_view, FilterFn>{
      {"abs", FilterAbs},           {"attr", FilterAttr},       {"capitalize", FilterCapitalize},
      {"count", FilterLength},      {"d", FilterDefault},       {"default", FilterDefault},
      {"dictsort", FilterDictsort}, {"e", FilterEscape},        {"escape", FilterEscape},
      {"first", FilterFirst},       {"float", FilterFloat},     {"indent", FilterIndent},
      {"int", FilterInt},           {"items", FilterItems},     {"join", FilterJoin},
      {"last", FilterLast},         {"length", FilterLength},   {"list", FilterList},
      {"lower", FilterLower},       {"map", FilterMap},         {"max", FilterMax},
      {"min", FilterMin},           {"reject", FilterReject},   {"rejectattr", FilterRejectattr},
      {"replace", FilterReplace},   {"reverse", FilterReverse}, {"round", FilterRound},
      {"safe", FilterSafe},         {"select", FilterSelect},   {"selectattr", FilterSelectattr},
      {"sort", FilterSort},         {"string", FilterString},   {"sum", FilterSum},
      {"title", FilterTitle},       {"tojson", FilterTojson},   {"trim", FilterTrim},
      {"unique", FilterUnique},     {"upper", FilterUpper},     {"wordcount", FilterWordcount},
  };
  return *registry;
}

}  // namespace

FilterFn FindFilter(absl::string_view name) {
  auto it = Registry().find(name);
  return it == Registry().end() ? nullptr : it->second;
}

bool IsJinjaFilter(absl::string_view name) {
  static constexpr absl::string_view kOthers[] = {
      "batch",    "center",    "filesizeformat", "forceescape", "format",
      "groupby",  "pprint",    "random",         "slice",       "striptags",
      "truncate", "urlencode", "urlize",         "wordwrap",    "xmlattr",
  };
  return FindFilter(name) != nullptr ||
         std::find(std::begin(kOthers), std::end(kOthers), name) != std::end(kOthers);
}

Value GetAttributePath(const Value& object, absl::string_view path) {
  Value current = object;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (current.is_undefined()) return current;
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    current = numeric ? GetItem(current, Value::Int(std::atoll(std::string(part).c_str())))
                      : GetItem(current, Value::String(std::string(part)));
  }
  return current;
}

}  // namespace kvserve::jinja
