// Helpers for the chat tests: render a template source with JSON variables through the
// interpreter's own entry points (engine/chat/jinja_parser.h, jinja_evaluator.h).
#ifndef KVSERVE_TESTS_CHAT_JINJA_TEST_UTIL_H_
#define KVSERVE_TESTS_CHAT_JINJA_TEST_UTIL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/chat/jinja_evaluator.h"
#include "engine/chat/jinja_json.h"
#include "engine/chat/jinja_parser.h"
#include "nlohmann/json.hpp"

namespace kvserve::jinja {

// Parses `source` and renders it with the variables of the JSON object `vars_json`.
inline absl::StatusOr<std::string> RenderJinja(absl::string_view source,
                                               absl::string_view vars_json = "{}",
                                               RenderEnvironment environment = {}) {
  absl::StatusOr<std::unique_ptr<const Program>> program = ParseTemplate(source);
  if (!program.ok()) return program.status();
  const Value vars = FromJson(nlohmann::ordered_json::parse(vars_json));
  return RenderProgram(**program, vars.dict(), environment);
}

}  // namespace kvserve::jinja

#endif  // KVSERVE_TESTS_CHAT_JINJA_TEST_UTIL_H_
