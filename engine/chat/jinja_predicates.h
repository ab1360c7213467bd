// Jinja tests (`value is name(args)`), with jinja2 3.1's semantics.
//
// Supported: defined undefined none boolean true false integer float number string mapping
// iterable sequence callable odd even divisibleby eq equalto == ne != lt lessthan < le <= gt
// greaterthan > ge >= in sameas lower upper filter test. As in jinja2, undefined is iterable and
// a sequence (it iterates as empty), and booleans are numbers. `escaped` is refused at parse time
// ("test 'escaped' is not supported": there is no markup type here).
//
// Threads: the registry is immutable; tests are pure functions.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_PREDICATES_H_
#define KVSERVE_ENGINE_CHAT_JINJA_PREDICATES_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat/jinja_callable.h"
#include "engine/chat/jinja_value.h"

namespace kvserve::jinja {

using TestFn = absl::StatusOr<bool> (*)(Interpreter& interpreter, const Value& input,
                                        const CallArgs& args);

// Null when this interpreter has no such test.
TestFn FindTest(absl::string_view name);
// True when jinja2 itself has a test of this name (supported here or not).
bool IsJinjaTest(absl::string_view name);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_PREDICATES_H_
