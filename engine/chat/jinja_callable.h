// What builtins (filters, tests, methods, globals, macros) see of the interpreter that calls them.
//
// Calls take their arguments as Python does: positionals, then keywords. Builtins report misuse
// as INVALID_ARGUMENT with a message that does not name a line; the evaluator prefixes the line of
// the expression that made the call ("line 12: ..."). The one exception is raise_exception(msg):
// its status carries a payload (RaisedError) and reaches the caller unchanged, message and all.
//
// Threads: an Interpreter is one render's state and is used by one thread; Callables are
// immutable and may be shared by renders on any threads.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_CALLABLE_H_
#define KVSERVE_ENGINE_CHAT_JINJA_CALLABLE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/chat/jinja_value.h"

namespace kvserve::jinja {

struct CallArgs {
  ValueList positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// Binds `args` to the parameters `names` in order: positionals first, then keywords by name.
// Too many positionals, an unknown keyword or a parameter given twice is an error naming
// `function`. Parameters not given are nullopt.
absl::StatusOr<std::vector<std::optional<Value>>> BindArgs(absl::string_view function,
                                                           const CallArgs& args,
                                                           absl::Span<const char* const> names);

class Interpreter {
 public:
  // Calls a callable value (a macro, a builtin, a bound method).
  virtual absl::StatusOr<Value> Call(const Value& callee, CallArgs args) = 0;
  // `input | name(args)` and `input is name(args)`, by name (map, select and selectattr take
  // filter and test names as strings).
  virtual absl::StatusOr<Value> ApplyFilter(absl::string_view name, const Value& input,
                                            CallArgs args) = 0;
  virtual absl::StatusOr<bool> ApplyTest(absl::string_view name, const Value& input,
                                         CallArgs args) = 0;
  // strftime_now's clock.
  virtual absl::Time Now() const = 0;
  virtual absl::TimeZone TimeZone() const = 0;
  // No string a builtin builds may be longer (a render's output cap).
  virtual size_t max_string_bytes() const = 0;

 protected:
  ~Interpreter() = default;
};

class Callable {
 public:
  virtual ~Callable() = default;
  // How it prints: "built-in function range", "macro 'render_tool'".
  virtual std::string Describe() const = 0;
  virtual absl::StatusOr<Value> Call(Interpreter& interpreter, CallArgs args) const = 0;
};

// raise_exception(message)'s error: INVALID_ARGUMENT with exactly `message`, marked so the
// evaluator does not prefix a line.
absl::Status RaisedError(absl::string_view message);
bool IsRaisedError(const absl::Status& status);

// The message of a builtin's errors: INVALID_ARGUMENT.
absl::Status CallError(absl::string_view message);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_CALLABLE_H_
