#include "engine/chat/jinja_methods.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/chat/jinja_callable.h"
#include "engine/chat/jinja_text.h"
#include "engine/chat/status_macros.h"

namespace kvserve::jinja {
namespace {

constexpr absl::string_view kStrMethods[] = {
    "strip",    "lstrip",  "rstrip",  "split",   "rsplit",     "splitlines", "startswith",
    "endswith", "upper",   "lower",   "title",   "capitalize", "replace",    "find",
    "rfind",    "index",   "rindex",  "count",   "join",       "format",     "isdigit",
    "isalpha",  "isalnum", "isspace", "islower", "isupper",
};
constexpr absl::string_view kDictMethods[] = {"items", "keys", "values", "get"};
constexpr absl::string_view kListMethods[] = {"index", "count"};
// Methods that modify their object: the immutable sandbox refuses them.
constexpr absl::string_view kUnsafeMethods[] = {
    "append",  "extend", "insert", "pop",    "popitem",    "remove",
    "reverse", "sort",   "clear",  "update", "setdefault",
};

template <size_t N>
bool Contains(const absl::string_view (&names)[N], absl::string_view name) {
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

Value NoAttribute(const Value& object, absl::string_view name) {
  return Value::Undefined(
      absl::StrCat("'", ObjectTypeRepr(object), "' has no attribute '", name, "'"));
}

absl::StatusOr<std::string> StringArg(absl::string_view method, const std::optional<Value>& v,
                                      absl::string_view what) {
  if (!v.has_value() || !v->is_string()) {
    return CallError(
        absl::StrCat(method, "() needs a string ", what,
                     v.has_value() ? absl::StrCat(", not '", v->TypeName(), "'") : std::string()));
  }
  return v->string_value();
}

// An optional str argument that may also be None (strip's chars, split's sep).
absl::StatusOr<std::optional<std::string>> OptionalStringArg(absl::string_view method,
                                                             const std::optional<Value>& v) {
  if (!v.has_value() || v->is_none()) return std::optional<std::string>();
  if (!v->is_string()) {
    return CallError(
        absl::StrCat(method, "() argument must be str or None, not '", v->TypeName(), "'"));
  }
  return std::optional<std::string>(v->string_value());
}

absl::StatusOr<int64_t> IntArg(absl::string_view method, const std::optional<Value>& v,
                               int64_t fallback) {
  if (!v.has_value()) return fallback;
  if (!v->is_integral()) {
    return CallError(absl::StrCat(method, "() needs an integer, not '", v->TypeName(), "'"));
  }
  return v->AsInt();
}

Value StringList(std::vector<std::string> parts) {
  ValueList items;
  items.reserve(parts.size());
  for (std::string& part : parts) items.push_back(Value::String(std::move(part)));
  return Value::List(std::move(items));
}

// Code point index of byte offset `at` in `s` (for find/index).
int64_t CodePointIndex(absl::string_view s, size_t at) { return CodePointCount(s.substr(0, at)); }

absl::StatusOr<Value> StrFormat(Interpreter& interpreter, const std::string& format,
                                const CallArgs& args) {
  std::string out;
  size_t next_auto = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if ((c == '{' || c == '}') && i + 1 < format.size() && format[i + 1] == c) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '}') return CallError("format(): single '}' encountered in format string");
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    const size_t close = format.find('}', i);
    if (close == std::string::npos) return CallError("format(): single '{' in format string");
    const std::string field = format.substr(i + 1, close - i - 1);
    if (field.find_first_of(":!.[") != std::string::npos) {
      return CallError(absl::StrCat("format(): field '{", field,
                                    "}' uses format specs, conversions or attribute access, "
                                    "which are not supported"));
    }
    const Value* value = nullptr;
    if (field.empty() || std::all_of(field.begin(), field.end(), ::isdigit)) {
      const size_t index = field.empty() ? next_auto++ : std::stoul(field);
      if (index >= args.positional.size()) {
        return CallError(absl::StrCat("format(): replacement index ", index, " out of range"));
      }
      value = &args.positional[index];
    } else {
      for (const auto& [name, v] : args.keyword) {
        if (name == field) value = &v;
      }
      if (value == nullptr) return CallError(absl::StrCat("format(): no argument '", field, "'"));
    }
    out += ToStr(*value);
    if (out.size() > interpreter.max_string_bytes()) {
      return CallError("format(): the result is too long");
    }
    i = close;
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> CallStrMethod(Interpreter& interpreter, const std::string& s,
                                    absl::string_view method, const CallArgs& args) {
  const auto bind = [&](std::initializer_list<const char*> names) {
    return BindArgs(method, args, std::vector<const char*>(names));
  };
  if (method == "strip" || method == "lstrip" || method == "rstrip") {
    CHAT_ASSIGN_OR_RETURN(auto a, bind({"chars"}));
    CHAT_ASSIGN_OR_RETURN(std::optional<std::string> chars, OptionalStringArg(method, a[0]));
    return Value::String(PyStrip(s, chars, method != "rstrip", method != "lstrip"));
  }
  if (method == "split" || method == "rsplit") {
    CHAT_ASSIGN_OR_RETURN(auto a, bind({"sep", "maxsplit"}));
    CHAT_ASSIGN_OR_RETURN(std::optional<std::string> sep, OptionalStringArg(method, a[0]));
    CHAT_ASSIGN_OR_RETURN(int64_t maxsplit, IntArg(method, a[1], -1));
    if (sep.has_value() && sep->empty())
      return CallError(absl::StrCat(method, "(): empty separator"));
    if (!sep.has_value()) {
      if (method == "rsplit" && maxsplit >= 0) {
        return CallError("rsplit() on whitespace with a maxsplit is not supported");
      }
      return StringList(PySplitWhitespace(s, maxsplit));
    }
    return StringList(method == "split" ? PySplit(s, *sep, maxsplit) : PyRSplit(s, *sep, maxsplit));
  }
  if (method == "splitlines") {
    CHAT_ASSIGN_OR_RETURN(auto a, bind({}));
    return StringList(PySplitLines(s));
  }
  if (method == "startswith" || method == "endswith") {
    CHAT_ASSIGN_OR_RETURN(auto a, bind({"prefix"}));
    if (!a[0].has_value()) return CallError(absl::StrCat(method, "() takes a prefix"));
    std::vector<std::string> options;
    if (a[0]->is_string()) {
      options.push_back(a[0]->string_value());
    } else if (a[0]->is_tuple()) {
      for (const Value& v : a[0]->list_items()) {
        CHAT_ASSIGN_OR_RETURN(std::string o, StringArg(method, v, "in the tuple"));
        options.push_back(std::move(o));
      }
    } else {
      return CallError(absl::StrCat(method, "() first arg must be str or a tuple of str, not '",
                                    a[0]->TypeName(), "'"));
    }
    const absl::string_view text = s;
    for (const std::string& o : options) {
      if (method == "startswith"
              ? text.substr(0, o.size()) == o
              : (text.size() >= o.size() && text.substr(text.size() - o.size()) == o)) {
        return Value::Bool(true);
      }
    }
    return Value::Bool(false);
  }
  if (method == "upper" || method == "lower" || method == "title" || method == "capitalize") {
    CHAT_ASSIGN_OR_RETURN(auto a, bind({}));
    if (method == "upper") return Value::String(PyUpper(s));
    if (method == "lower") return Value::String(PyLower(s));
    if (method == "title") return Value::String(PyTitle(s));
    return Value::String(PyCapitalize(s));
  }
  if (method == "replace") {
    CHAT_ASSIGN_OR_RETURN(auto a, bind({"old", "new", "count"}));
    CHAT_ASSIGN_OR_RETURN(std::string old_text, StringArg(method, a[0], "'old'"));
    CHAT_ASSIGN_OR_RETURN(std::string new_text, StringArg(method, a[1], "'new'"));
    CHAT_ASSIGN_OR_RETURN(int64_t count, IntArg(method, a[2], -1));
    std::string out = PyReplace(s, old_text, new_text, count);
    if (out.size() > interpreter.max_string_bytes()) return CallError("replace(): result too long");
    return Value::String(std::move(out));
  }
  if (method == "find" || method == "rfind" || method == "index" || method == "rindex" ||
      method == "count") {
    CHAT_ASSIGN_OR_RETURN(auto a, bind({"sub"}));
    CHAT_ASSIGN_OR_RETURN(std::string sub, StringArg(method, a[0], "argument"));
    if (method == "count") {
      if (sub.empty()) return Value::Int(CodePointCount(s) + 1);
      int64_t n = 0;
      for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
      return Value::Int(n);
    }
    const size_t at = (method == "find" || method == "index") ? s.find(sub) : s.rfind(sub);
    if (at == std::string::npos) {
      if (method == "index" || method == "rindex") return CallError("substring not found");
      return Value::Int(-1);
    }
    return Value::Int(CodePointIndex(s, at));
  }
  if (method == "join") {
    CHAT_ASSIGN_OR_RETURN(auto a, bind({"iterable"}));
    if (!a[0].has_value()) return CallError("join() takes an iterable");
    CHAT_ASSIGN_OR_RETURN(ValueList items, Iterate(*a[0]));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        return CallError(absl::StrCat("join(): sequence item ", i, ": expected str instance, ",
                                      items[i].TypeName(), " found"));
      }
      if (i > 0) out += s;
      out += items[i].string_value();
      if (out.size() > interpreter.max_string_bytes()) return CallError("join(): result too long");
    }
    return Value::String(std::move(out));
  }
  if (method == "format") return StrFormat(interpreter, s, args);
  CHAT_ASSIGN_OR_RETURN(auto a, bind({}));
  if (method == "isdigit") return Value::Bool(PyIsDigit(s));
  if (method == "isalpha") return Value::Bool(PyIsAlpha(s));
  if (method == "isalnum") return Value::Bool(PyIsAlnum(s));
  if (method == "isspace") return Value::Bool(PyIsSpace(s));
  if (method == "islower") return Value::Bool(PyIsLower(s));
  if (method == "isupper") return Value::Bool(PyIsUpper(s));
  return CallError(absl::StrCat("str method '", method, "' is not supported"));
}

absl::StatusOr<Value> CallDictMethod(const Dict& dict, absl::string_view method,
                                     const CallArgs& args) {
  if (method == "get") {
    CHAT_ASSIGN_OR_RETURN(auto a, BindArgs(method, args, {"key", "default"}));
    if (!a[0].has_value()) return CallError("get() takes a key");
    const Value* found = dict.Find(*a[0]);
    if (found != nullptr) return *found;
    return a[1].value_or(Value::None());
  }
  CHAT_ASSIGN_OR_RETURN(auto a, BindArgs(method, args, {}));
  ValueList out;
  out.reserve(dict.size());
  for (const auto& [key, value] : dict.entries()) {
    if (method == "items") {
      out.push_back(Value::Tuple({key, value}));
    } else if (method == "keys") {
      out.push_back(key);
    } else {
      out.push_back(value);
    }
  }
  return Value::List(std::move(out));
}

absl::StatusOr<Value> CallListMethod(const ValueList& items, absl::string_view method,
                                     const CallArgs& args) {
  CHAT_ASSIGN_OR_RETURN(auto a, BindArgs(method, args, {"value"}));
  if (!a[0].has_value()) return CallError(absl::StrCat(method, "() takes one argument"));
  int64_t count = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!Equals(items[i], *a[0])) continue;
    if (method == "index") return Value::Int(static_cast<int64_t>(i));
    ++count;
  }
  if (method == "index") return CallError(absl::StrCat(Repr(*a[0]), " is not in list"));
  return Value::Int(count);
}

// `receiver.method`, ready to be called.
class BoundMethod final : public Callable {
 public:
  BoundMethod(Value receiver, std::string method)
      : receiver_(std::move(receiver)), method_(std::move(method)) {}

  std::string Describe() const override {
    return absl::StrCat("built-in method ", method_, " of ", receiver_.TypeName(), " object");
  }

  absl::StatusOr<Value> Call(Interpreter& interpreter, CallArgs args) const override {
    switch (receiver_.kind()) {
      case Value::Kind::kString:
        return CallStrMethod(interpreter, receiver_.string_value(), method_, args);
      case Value::Kind::kDict:
        return CallDictMethod(receiver_.dict(), method_, args);
      case Value::Kind::kList:
        return CallListMethod(receiver_.list_items(), method_, args);
      case Value::Kind::kLoop: {  // cycle(*values)
        if (args.positional.empty()) return CallError("no items for cycling given");
        const LoopData& loop = receiver_.loop();
        return args.positional[static_cast<size_t>(loop.index0) % args.positional.size()];
      }
      default:
        return CallError(absl::StrCat("'", method_, "' is not callable"));
    }
  }

 private:
  const Value receiver_;
  const std::string method_;
};

Value Method(const Value& receiver, absl::string_view name) {
  return Value::FromCallable(std::make_shared<BoundMethod>(receiver, std::string(name)));
}

Value LoopAttribute(const Value& object, absl::string_view name) {
  const LoopData& loop = object.loop();
  const int64_t length = static_cast<int64_t>(loop.items->size());
  const int64_t i = loop.index0;
  if (name == "index") return Value::Int(i + 1);
  if (name == "index0") return Value::Int(i);
  if (name == "revindex") return Value::Int(length - i);
  if (name == "revindex0") return Value::Int(length - i - 1);
  if (name == "first") return Value::Bool(i == 0);
  if (name == "last") return Value::Bool(i == length - 1);
  if (name == "length") return Value::Int(length);
  if (name == "depth") return Value::Int(loop.depth0 + 1);
  if (name == "depth0") return Value::Int(loop.depth0);
  if (name == "previtem") {
    return i > 0 ? (*loop.items)[i - 1] : Value::Undefined("there is no previous item");
  }
  if (name == "nextitem") {
    return i + 1 < length ? (*loop.items)[i + 1] : Value::Undefined("there is no next item");
  }
  if (name == "cycle") return Method(object, name);
  if (name == "changed") return Value::Undefined("loop.changed() is not supported");
  return NoAttribute(object, name);
}

}  // namespace

std::string ObjectTypeRepr(const Value& value) {
  if (value.is_none()) return "None";
  if (value.is_namespace()) return "jinja2.utils.Namespace object";
  return absl::StrCat(value.TypeName(), " object");
}

Value GetAttribute(const Value& object, absl::string_view name) {
  if (Contains(kUnsafeMethods, name) && (object.is_list() || object.is_dict())) {
    return Value::Undefined(absl::StrCat("access to attribute '", name, "' of '", object.TypeName(),
                                         "' object is unsafe"));
  }
  switch (object.kind()) {
    case Value::Kind::kString:
      if (Contains(kStrMethods, name)) return Method(object, name);
      break;
    case Value::Kind::kDict:
      if (Contains(kDictMethods, name)) return Method(object, name);
      if (const Value* item = object.dict().Find(name)) return *item;
      break;
    case Value::Kind::kList:
      if (Contains(kListMethods, name)) return Method(object, name);
      break;
    case Value::Kind::kNamespace:
      if (const Value* attr = object.namespace_data().attrs.Find(name)) return *attr;
      break;
    case Value::Kind::kLoop:
      return LoopAttribute(object, name);
    default:
      break;
  }
  return NoAttribute(object, name);
}

Value GetItem(const Value& object, const Value& key) {
  if (key.is_integral() && (object.is_list() || object.is_string())) {
    int64_t index = key.AsInt();
    if (object.is_list()) {
      const ValueList& items = object.list_items();
      const int64_t n = static_cast<int64_t>(items.size());
      if (index < 0) index += n;
      if (index >= 0 && index < n) return items[static_cast<size_t>(index)];
    } else {
      const std::vector<size_t> offsets = CodePointOffsets(object.string_value());
      const int64_t n = static_cast<int64_t>(offsets.size()) - 1;
      if (index < 0) index += n;
      if (index >= 0 && index < n) {
        return Value::String(
            object.string_value().substr(offsets[index], offsets[index + 1] - offsets[index]));
      }
    }
    return Value::Undefined(absl::StrCat(ObjectTypeRepr(object), " has no element ", key.AsInt()));
  }
  if (object.is_dict()) {
    if (const Value* item = object.dict().Find(key)) return *item;
  }
  if (key.is_string()) return GetAttribute(object, key.string_value());
  return Value::Undefined(absl::StrCat(ObjectTypeRepr(object), " has no element ", Repr(key)));
}

absl::StatusOr<Value> GetSlice(const Value& object, const Value& start, const Value& stop,
                               const Value& step) {
  const auto absent = [](const Value& v) { return v.is_none() || v.is_undefined(); };
  const auto not_sliceable = [&] {
    return Value::Undefined(absl::StrCat("'", ObjectTypeRepr(object), "' cannot be sliced so"));
  };
  if (!object.is_list() && !object.is_string()) return not_sliceable();
  for (const Value* bound : {&start, &stop, &step}) {
    if (!absent(*bound) && !bound->is_integral()) return not_sliceable();
  }
  const int64_t s = absent(step) ? 1 : step.AsInt();
  if (s == 0) return CallError("slice step cannot be zero");
  std::vector<size_t> offsets;
  int64_t length;
  if (object.is_list()) {
    length = static_cast<int64_t>(object.list_items().size());
  } else {
    offsets = CodePointOffsets(object.string_value());
    length = static_cast<int64_t>(offsets.size()) - 1;
  }
  const int64_t lower = s > 0 ? 0 : -1;
  const int64_t upper = s > 0 ? length : length - 1;
  const auto clamp = [&](const Value& v, int64_t fallback) {
    if (absent(v)) return fallback;
    int64_t x = v.AsInt();
    if (x < 0) x = std::max(x + length, lower);
    return std::min(x, upper);
  };
  const int64_t first = clamp(start, s > 0 ? lower : upper);
  const int64_t last = clamp(stop, s > 0 ? upper : lower);
  std::vector<int64_t> picked;
  for (int64_t i = first; s > 0 ? i < last : i > last; i += s) picked.push_back(i);
  if (object.is_list()) {
    ValueList items;
    items.reserve(picked.size());
    for (int64_t i : picked) items.push_back(object.list_items()[static_cast<size_t>(i)]);
    return object.is_tuple() ? Value::Tuple(std::move(items)) : Value::List(std::move(items));
  }
  std::string out;
  const std::string& text = object.string_value();
  for (int64_t i : picked) out.append(text, offsets[i], offsets[i + 1] - offsets[i]);
  return Value::String(std::move(out));
}

}  // namespace kvserve::jinja
