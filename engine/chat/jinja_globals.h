// The global functions a template can call without being given them.
//
// jinja2's: range (capped at 100000 items, as jinja2's sandbox does), namespace, dict. Hugging
// Face's (transformers' apply_chat_template): raise_exception(message), which fails the render
// with exactly `message` (RaisedError, jinja_callable.h), and strftime_now(format), the
// interpreter's clock formatted with C strftime (the C locale's names: "26 Jul 2024").
// jinja2's lipsum, cycler and joiner are not provided; naming them gives an undefined value that
// says so when used.
//
// Threads: the functions are immutable singletons.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_GLOBALS_H_
#define KVSERVE_ENGINE_CHAT_JINJA_GLOBALS_H_

#include <optional>

#include "absl/strings/string_view.h"
#include "engine/chat/jinja_value.h"

namespace kvserve::jinja {

// The global `name`, or nullopt when there is none.
std::optional<Value> FindGlobal(absl::string_view name);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_GLOBALS_H_
