#include "engine/chat/jinja_globals.h"

#include <ctime>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "engine/chat/jinja_callable.h"
#include "engine/chat/status_macros.h"

namespace kvserve::jinja {
namespace {

constexpr int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

// A builtin function: a name and a plain function pointer.
class Builtin final : public Callable {
 public:
  using Fn = absl::StatusOr<Value> (*)(Interpreter&, const CallArgs&);
  Builtin(std::string name, Fn fn) : name_(std::move(name)), fn_(fn) {}
  std::string Describe() const override { return absl::StrCat("built-in function ", name_); }
  absl::StatusOr<Value> Call(Interpreter& interpreter, CallArgs args) const override {
    return fn_(interpreter, args);
  }

 private:
  const std::string name_;
  const Fn fn_;
};

absl::StatusOr<Value> Range(Interpreter&, const CallArgs& args) {
  if (!args.keyword.empty()) return CallError("range() takes no keyword arguments");
  const ValueList& p = args.positional;
  if (p.empty() || p.size() > 3) return CallError("range() takes 1 to 3 arguments");
  for (const Value& v : p) {
    if (!v.is_integral()) {
      return CallError(
          absl::StrCat("'", v.TypeName(), "' object cannot be interpreted as an integer"));
    }
  }
  int64_t start = 0, stop, step = 1;
  if (p.size() == 1) {
    stop = p[0].AsInt();
  } else {
    start = p[0].AsInt();
    stop = p[1].AsInt();
    if (p.size() == 3) step = p[2].AsInt();
  }
  if (step == 0) return CallError("range() arg 3 must not be zero");
  // Count without overflow: the number of values in [start, stop) by step.
  const __int128 span =
      step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  const __int128 magnitude = step > 0 ? step : -static_cast<__int128>(step);
  const __int128 count = span <= 0 ? 0 : (span + magnitude - 1) / magnitude;
  if (count > kMaxRange) {
    return CallError(absl::StrCat(
        "Range too big. The sandbox blocks ranges larger than MAX_RANGE (", kMaxRange, ")."));
  }
  ValueList items;
  items.reserve(static_cast<size_t>(count));
  for (__int128 i = 0; i < count; ++i)
    items.push_back(Value::Int(static_cast<int64_t>(start + i * step)));
  return Value::List(std::move(items));
}

// dict(mapping_or_pairs, **kwargs), which namespace() also takes.
absl::StatusOr<Dict> DictFromArgs(absl::string_view function, const CallArgs& args) {
  Dict dict;
  if (args.positional.size() > 1) {
    return CallError(absl::StrCat(function, "() takes at most 1 positional argument"));
  }
  if (!args.positional.empty()) {
    const Value& source = args.positional[0];
    if (source.is_dict()) {
      dict = source.dict();
    } else if (source.is_list()) {
      for (const Value& pair : source.list_items()) {
        if (!pair.is_list() || pair.list_items().size() != 2 ||
            !dict.Set(pair.list_items()[0], pair.list_items()[1])) {
          return CallError(absl::StrCat(function, "(): each item must be a (key, value) pair"));
        }
      }
    } else {
      return CallError(absl::StrCat(function, "() argument must be a mapping or pairs, not '",
                                    source.TypeName(), "'"));
    }
  }
  for (const auto& [key, value] : args.keyword) dict.Set(key, value);
  return dict;
}

absl::StatusOr<Value> MakeNamespace(Interpreter&, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Dict attrs, DictFromArgs("namespace", args));
  return Value::NewNamespace(std::move(attrs));
}

absl::StatusOr<Value> MakeDict(Interpreter&, const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(Dict dict, DictFromArgs("dict", args));
  return Value::FromDict(std::move(dict));
}

absl::StatusOr<Value> RaiseException(Interpreter&, const CallArgs& args) {
  static constexpr const char* kNames[] = {"message"};
  CHAT_ASSIGN_OR_RETURN(auto a, BindArgs("raise_exception", args, kNames));
  return RaisedError(a[0].has_value() ? ToStr(*a[0]) : "");
}

absl::StatusOr<Value> StrftimeNow(Interpreter& interpreter, const CallArgs& args) {
  static constexpr const char* kNames[] = {"format"};
  CHAT_ASSIGN_OR_RETURN(auto a, BindArgs("strftime_now", args, kNames));
  if (!a[0].has_value() || !a[0]->is_string())
    return CallError("strftime_now() takes a format string");
  const std::string& format = a[0]->string_value();
  if (format.size() > 1024) return CallError("strftime_now(): format too long");
  const absl::Time now = interpreter.Now();
  std::tm tm = absl::ToTM(now, interpreter.TimeZone());
  // %f (microseconds) is Python's own; the rest goes to the C library, as Python's does.
  std::string expanded;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      if (format[i + 1] == 'f') {
        const int64_t micros =
            absl::ToInt64Microseconds(now - absl::FromUnixSeconds(absl::ToUnixSeconds(now)));
        absl::StrAppendFormat(&expanded, "%06d", micros);
      } else {
        expanded.append(format, i, 2);
      }
      ++i;
    } else {
      expanded.push_back(format[i]);
    }
  }
  if (expanded.empty()) return Value::String("");
  std::string out(expanded.size() * 8 + 64, '\0');
  const size_t n = std::strftime(out.data(), out.size(), expanded.c_str(), &tm);
  out.resize(n);
  return Value::String(std::move(out));
}

}  // namespace

std::optional<Value> FindGlobal(absl::string_view name) {
  static const auto make = [](const char* n, Builtin::Fn fn) {
    return Value::FromCallable(std::make_shared<const Builtin>(n, fn));
  };
  static const Value* range = new Value(make("range", Range));
  static const Value* ns = new Value(make("namespace", MakeNamespace));
  static const Value* dict = new Value(make("dict", MakeDict));
  static const Value* raise = new Value(make("raise_exception", RaiseException));
  static const Value* strftime = new Value(make("strftime_now", StrftimeNow));
  if (name == "range") return *range;
  if (name == "namespace") return *ns;
  if (name == "dict") return *dict;
  if (name == "raise_exception") return *raise;
  if (name == "strftime_now") return *strftime;
  if (name == "lipsum" || name == "cycler" || name == "joiner") {
    return Value::Undefined(absl::StrCat("the global '", name, "' is not supported"));
  }
  return std::nullopt;
}

}  // namespace kvserve::jinja
