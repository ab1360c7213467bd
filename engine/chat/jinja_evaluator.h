// The Jinja evaluator: a parsed Program plus variables → the rendered text.
//
// Semantics are jinja2 3.1's (ImmutableSandboxedEnvironment, default Undefined):
//   * names resolve through the scopes (innermost first), then the render's variables, then the
//     globals (jinja_globals.h); a missing name is undefined, which prints as "", is false, has
//     length 0 and iterates as empty, but fails when used otherwise (`undefined.attr`,
//     `undefined + 1`, calling it: "'x' is undefined");
//   * each for-loop iteration, macro call and `with` block is a new scope: `set` inside it does
//     not change the variable outside (that is what `namespace()` is for), and reads fall through
//     to the enclosing scopes; if-blocks are not scopes;
//   * macros see the template's top-level variables as they are when called.
//
// Limits (RESOURCE_EXHAUSTED, so that a broken or hostile template cannot hang or exhaust
// memory): the output and every string built are capped at max_output_bytes (and lists at as
// many items); the text and list items a render builds in total at max_built_bytes (values are
// shared, so copies cost nothing); statements, loop iterations and calls at max_steps; macro
// calls nest at most max_call_depth deep. Parsing bounds the nesting of the tree itself.
//
// Errors: INVALID_ARGUMENT "line N: <what>" for the first failure; raise_exception(message)
// fails with exactly `message`.
//
// Threads: RenderProgram keeps all its state on its own stack and reads `program` only, so any
// number of renders of one Program may run at once.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_EVALUATOR_H_
#define KVSERVE_ENGINE_CHAT_JINJA_EVALUATOR_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/chat/jinja_ast.h"
#include "engine/chat/jinja_value.h"

namespace kvserve::jinja {

struct RenderLimits {
  size_t max_output_bytes = size_t{16} << 20;
  size_t max_built_bytes = size_t{256} << 20;
  int64_t max_steps = 10'000'000;
  int max_call_depth = 64;
};

struct RenderEnvironment {
  absl::Time now;                                  // strftime_now()'s clock
  absl::TimeZone time_zone = absl::UTCTimeZone();  // ... and its time zone
  RenderLimits limits;
};

absl::StatusOr<std::string> RenderProgram(const Program& program, const Dict& variables,
                                          const RenderEnvironment& environment);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_EVALUATOR_H_
