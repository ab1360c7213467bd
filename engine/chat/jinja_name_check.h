// Refusing unknown filter and test names where jinja2 refuses them: at compile time, unless the
// name is inside an if-statement or a conditional expression (jinja2's "soft" frames), where it
// is only an error if it is reached at render time. Real templates rely on this: DeepSeek's
// templates use llama.cpp's `from_json` filter in a tool-call branch that Hugging Face never
// reaches with plain messages.
//
// Filters and tests that jinja2 has but this interpreter does not are refused by the parser
// wherever they are (they would work under Hugging Face, so a template using them is not
// supported here).
//
// Threads: a pure function of the tree.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_NAME_CHECK_H_
#define KVSERVE_ENGINE_CHAT_JINJA_NAME_CHECK_H_

#include "absl/status/status.h"
#include "engine/chat/jinja_ast.h"

namespace kvserve::jinja {

// INVALID_ARGUMENT "line N: unknown filter 'x'" (or test) for the first name jinja2 would
// refuse at compile time.
absl::Status CheckFilterAndTestNames(const Program& program);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_NAME_CHECK_H_
