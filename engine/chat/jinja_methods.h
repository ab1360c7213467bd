// Attribute, item and slice access, and the methods of str, dict, list and `loop`.
//
// `obj.name` follows jinja2's getattr: a method of the object's type first (so `d.items` is the
// method even if `d` has an "items" key), then the dict's item, namespace's attribute or loop's
// field. `obj[key]` follows jinja2's getitem: the item first, then, for a string key, the
// attribute. Missing things are undefined values whose hint reads like jinja2's message
// ("'dict object' has no attribute 'x'"), so `is defined` can test them and using them fails
// with that message. The caller (the evaluator) handles an undefined `obj` itself: jinja2 fails
// there ("'x' is undefined").
//
// Methods (the rest are undefined; the sandbox's modifying ones say "unsafe"):
//   str:  strip lstrip rstrip split rsplit splitlines startswith endswith upper lower title
//         capitalize replace find rfind index rindex count join format isdigit isalpha isalnum
//         isspace islower isupper
//   dict: items keys values get
//   list: index count
//   loop: cycle
// str.format supports "{}", "{0}", "{name}" and "{{" / "}}", without format specs or
// conversions (refused with a message).
//
// Threads: pure functions; the bound methods they return are immutable.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_METHODS_H_
#define KVSERVE_ENGINE_CHAT_JINJA_METHODS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat/jinja_value.h"

namespace kvserve::jinja {

Value GetAttribute(const Value& object, absl::string_view name);
Value GetItem(const Value& object, const Value& key);
// object[start:stop:step], Python's semantics; each bound may be none or undefined (left out).
absl::StatusOr<Value> GetSlice(const Value& object, const Value& start, const Value& stop,
                               const Value& step);

// "dict object", "str object", "None": how jinja2 names a value's type in its messages.
std::string ObjectTypeRepr(const Value& value);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_METHODS_H_
