#include "engine/chat/jinja_callable.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace kvserve::jinja {
namespace {

constexpr char kRaisedPayload[] = "kvserve.jinja/raise_exception";

}  // namespace

absl::StatusOr<std::vector<std::optional<Value>>> BindArgs(absl::string_view function,
                                                           const CallArgs& args,
                                                           absl::Span<const char* const> names) {
  std::vector<std::optional<Value>> bound(names.size());
  if (args.positional.size() > names.size()) {
    return CallError(absl::StrCat(function, "() takes at most ", names.size(), " argument",
                                  names.size() == 1 ? "" : "s", " (", args.positional.size(),
                                  " given)"));
  }
  for (size_t i = 0; i < args.positional.size(); ++i) bound[i] = args.positional[i];
  for (const auto& [name, value] : args.keyword) {
    size_t i = 0;
    while (i < names.size() && name != names[i]) ++i;
    if (i == names.size()) {
      return CallError(
          absl::StrCat(function, "() got an unexpected keyword argument '", name, "'"));
    }
    if (bound[i].has_value()) {
      return CallError(absl::StrCat(function, "() got multiple values for argument '", name, "'"));
    }
    bound[i] = value;
  }
  return bound;
}

absl::Status RaisedError(absl::string_view message) {
  absl::Status status = absl::InvalidArgumentError(message);
  status.SetPayload(kRaisedPayload, absl::Cord("1"));
  return status;
}

bool IsRaisedError(const absl::Status& status) {
  return status.GetPayload(kRaisedPayload).has_value();
}

absl::Status CallError(absl::string_view message) { return absl::InvalidArgumentError(message); }

}  // namespace kvserve::jinja
