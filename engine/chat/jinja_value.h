// The Jinja value model: what template expressions evaluate to, with Python's semantics.
//
// A Value is one of: undefined (a missing name, attribute or item, carrying a hint for error
// messages), none, bool, int (int64; overflow is an error, not a bigint), float (double), string
// (UTF-8 bytes; lengths, indices and slices count code points), list (or tuple: same storage, a
// flag that only printing and equality look at), dict (insertion-ordered as Python 3.7+ dicts
// and JSON objects decoded by Python; keys as Python hashes them, see Dict), namespace (Jinja's
// `namespace(...)`: the one mutable object, assigned through `{% set ns.attr = ... %}`), loop (the
// `loop` variable of a for-loop) and callable (builtins, bound methods, macros; see
// jinja_callable.h).
//
// Invariants: strings, lists and dicts are immutable once wrapped in a Value and shared by copies
// (Hugging Face renders in jinja2's ImmutableSandboxedEnvironment, where templates cannot modify
// them either), so copying a Value never copies text or items. Only a namespace is shared
// mutably, and only within one render.
//
// Threads: a Value is not synchronized. The values of a parsed template (its literals) are never
// modified, so one template can be rendered on many threads at once; each render builds its own
// lists, dicts and namespaces.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_VALUE_H_
#define KVSERVE_ENGINE_CHAT_JINJA_VALUE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvserve::jinja {

class Callable;
class Dict;
class Value;
struct ListData;
struct LoopData;
struct NamespaceData;

using ValueList = std::vector<Value>;

class Value {
 public:
  enum class Kind {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kLoop,
    kCallable,
  };

  // Undefined with an empty hint.
  Value();
  static Value Undefined(std::string hint);
  static Value None();
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double f);
  static Value String(std::string s);
  static Value List(ValueList items);
  static Value Tuple(ValueList items);
  static Value FromDict(Dict dict);
  static Value NewNamespace(Dict attrs);
  static Value Loop(std::shared_ptr<const LoopData> loop);
  static Value FromCallable(std::shared_ptr<const Callable> callable);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_namespace() const { return kind() == Kind::kNamespace; }
  bool is_loop() const { return kind() == Kind::kLoop; }
  bool is_callable() const { return kind() == Kind::kCallable; }
  // Python's numbers: bool is an int there.
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_integral() const { return is_bool() || is_int(); }
  bool is_tuple() const;

  // Accessors; each requires the matching kind.
  bool bool_value() const { return std::get<bool>(v_); }
  int64_t int_value() const { return std::get<int64_t>(v_); }
  double float_value() const { return std::get<double>(v_); }
  const std::string& string_value() const { return *std::get<5>(v_); }
  const ValueList& list_items() const;
  const Dict& dict() const;
  NamespaceData& namespace_data() const;
  const LoopData& loop() const;
  const Callable& callable() const;
  const std::string& undefined_hint() const { return std::get<UndefinedTag>(v_).hint; }

  // For is_integral(): bool as 0/1. For is_number(): as a double.
  int64_t AsInt() const;
  double AsDouble() const;

  // Python's truthiness (undefined is false).
  bool Truthy() const;
  // Python's type name, as in its error messages: "str", "int", "dict", "NoneType", "Undefined".
  absl::string_view TypeName() const;
  // True when a and b are the same object (Jinja's `sameas`): kind and identity for containers.
  bool SameAs(const Value& other) const;

 private:
  struct UndefinedTag {
    std::string hint;
  };
  struct NoneTag {};
  // Strings are shared too: copying a value never copies text, so a render's memory is bounded
  // by the text it builds (which the evaluator budgets), not by how often it copies it.
  std::variant<UndefinedTag, NoneTag, bool, int64_t, double, std::shared_ptr<const std::string>,
               std::shared_ptr<const ListData>, std::shared_ptr<const Dict>,
               std::shared_ptr<NamespaceData>, std::shared_ptr<const LoopData>,
               std::shared_ptr<const Callable>>
      v_;
};

// An insertion-ordered map, keyed as Python's dict is: by value, with 1, 1.0 and True one key.
// Keys are strings (always, for JSON objects), numbers, none, or tuples of those; other values
// are unhashable, as in Python.
class Dict {
 public:
  using Entry = std::pair<Value, Value>;

  // Null when absent (or `key` is unhashable).
  const Value* Find(const Value& key) const;
  const Value* Find(absl::string_view key) const;
  // Replaces the value in place (keeping the key's position) or appends a new entry. False, and
  // nothing set, when `key` is unhashable.
  bool Set(Value key, Value value);
  void Set(std::string key, Value value) { Set(Value::String(std::move(key)), std::move(value)); }
  const std::vector<Entry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
  absl::flat_hash_map<std::string, size_t> index_;  // by DictKey()
};

// The identity of `value` as a dict key (equal for values Python hashes alike); nullopt when it
// is unhashable (lists, dicts, namespaces, loops, callables, undefined).
std::optional<std::string> DictKey(const Value& value);

struct ListData {
  ValueList items;
  bool is_tuple = false;
};

struct NamespaceData {
  Dict attrs;
};

// One iteration of a for-loop: what `loop.*` reads.
struct LoopData {
  std::shared_ptr<const ValueList> items;  // every item the loop visits (after its `if` filter)
  int64_t index0 = 0;
  int64_t depth0 = 0;  // 0 for the outermost loop
};

// Python's str(): how `{{ value }}` prints it (undefined prints as "").
std::string ToStr(const Value& value);
// Python's repr(): strings quoted, used inside printed lists and dicts.
std::string Repr(const Value& value);
// Python's repr() of a float: the shortest digits that round-trip, "1.0", "1e-05", "inf".
std::string FloatRepr(double f);

// Python's ==.
bool Equals(const Value& a, const Value& b);
// Python's ordering for <, <=, >, >=: -1, 0, 1, or an error naming the types (e.g. str vs int).
absl::StatusOr<int> Compare(const Value& a, const Value& b);

// Iterating a value the way a for-loop does: a list's items, a dict's keys, a string's code
// points, nothing for undefined; an error for the rest.
absl::StatusOr<ValueList> Iterate(const Value& value);
// Python's len(): code points for strings; undefined has length 0; an error for the rest.
absl::StatusOr<int64_t> Length(const Value& value);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_VALUE_H_
