// JSON in and out of the value model.
//
// FromJson: a JSON document (nlohmann::ordered_json, so objects keep their order, as Python's
// json.loads does) → a Value: objects → dicts, arrays → lists, integers → int (an unsigned
// integer past int64 becomes a float), floats → float, null → none.
//
// DumpJson: Python's json.dumps(value, ensure_ascii=..., indent=..., separators=...,
// sort_keys=...), which is what Hugging Face's `tojson` filter calls (with ensure_ascii=False by
// default, unlike jinja2's own tojson, which escapes HTML characters). Floats print as Python's
// repr (NaN, Infinity, -Infinity for the special values, as Python does); tuples are arrays;
// undefined, namespaces, loops and callables are errors ("Object of type X is not JSON
// serializable").
//
// Threads: pure functions.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_JSON_H_
#define KVSERVE_ENGINE_CHAT_JINJA_JSON_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/chat/jinja_value.h"
#include "nlohmann/json.hpp"

namespace kvserve::jinja {

Value FromJson(const nlohmann::ordered_json& json);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // unset: one line; else the string one level indents by
  std::optional<std::string> item_separator;  // unset: ", " on one line, "," when indenting
  std::string key_separator = ": ";
  bool sort_keys = false;
};

absl::StatusOr<std::string> DumpJson(const Value& value, const JsonDumpOptions& options);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_JSON_H_
