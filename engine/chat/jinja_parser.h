// The Jinja parser: template source → Program (jinja_ast.h), or an error naming the line.
//
// Tags supported: if / elif / else, for (with `else`, an `if` filter and tuple targets), set
// (`set x = ...`, `set a, b = ...`, `set ns.attr = ...`, block `set x %}...{% endset`, with
// filters), macro (defaults, `varargs`, `kwargs`), filter blocks, with, print, break and continue
// (jinja2's loopcontrols, which Hugging Face enables), and Hugging Face's `generation` block
// (renders its body). Expressions: see jinja_expression_parser.h.
//
// Refused at parse time, naming the tag and line: extends, block, include, import, from, call,
// autoescape, do, trans and other tags (`unknown tag 'x'` for names jinja2 does not know either),
// recursive loops, `break` / `continue` outside a loop, filters and tests jinja2 has but this
// interpreter does not, names jinja2 does not know either where jinja2 refuses them
// (jinja_name_check.h; inside if-blocks it only fails when reached), end tags that close
// nothing, and blocks left open at the end of the template.
//
// Threads: ParseTemplate is a pure function; the Program it returns is immutable.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_PARSER_H_
#define KVSERVE_ENGINE_CHAT_JINJA_PARSER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat/jinja_ast.h"

namespace kvserve::jinja {

// INVALID_ARGUMENT "line N: ..." for anything the lexer or parser refuses.
absl::StatusOr<std::unique_ptr<const Program>> ParseTemplate(absl::string_view source);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_PARSER_H_
