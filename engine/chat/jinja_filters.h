// Jinja filters (`value | name(args)`), with jinja2 3.1's semantics unless noted.
//
// Supported: abs attr capitalize count d default dictsort e escape first float indent int items
// join last length list lower map max min reject rejectattr replace reverse round safe select
// selectattr sort string sum title tojson trim unique upper wordcount. `tojson` is Hugging Face's
// (json.dumps with ensure_ascii=False, indent, separators, sort_keys; see jinja_json.h), not
// jinja2's HTML-escaping one. Filters that return generators in jinja2 (map, select, reject,
// selectattr, rejectattr, items, reverse) return lists here: the same when iterated, joined or
// passed to `list`, different only when printed directly. `safe` and `escape` return plain
// strings (Hugging Face renders without autoescaping, so there is no markup type).
//
// jinja2's other filters (batch, center, filesizeformat, forceescape, format, groupby, pprint,
// random, slice, striptags, truncate, urlencode, urlize, wordwrap, xmlattr) are refused at parse
// time with "filter 'x' is not supported".
//
// Threads: the registry is immutable; filters are pure functions of their arguments and the
// interpreter they are given.
#ifndef KVSERVE_ENGINE_CHAT_JINJA_FILTERS_H_
#define KVSERVE_ENGINE_CHAT_JINJA_FILTERS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/chat/jinja_callable.h"
#include "engine/chat/jinja_value.h"

namespace kvserve::jinja {

using FilterFn = absl::StatusOr<Value> (*)(Interpreter& interpreter, const Value& input,
                                           const CallArgs& args);

// Null when this interpreter has no such filter.
FilterFn FindFilter(absl::string_view name);
// True when jinja2 itself has a filter of this name (supported here or not).
bool IsJinjaFilter(absl::string_view name);

// jinja2's make_attrgetter: "a.b.0" → item/attribute a, then b, then index 0.
Value GetAttributePath(const Value& object, absl::string_view path);

}  // namespace kvserve::jinja

#endif  // KVSERVE_ENGINE_CHAT_JINJA_FILTERS_H_
