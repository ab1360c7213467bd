#include "clients/flag_values.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace kvserve {

absl::StatusOr<std::vector<int32_t>> ParseIdList(absl::string_view text) {
  std::vector<int32_t> ids;
  if (absl::StripAsciiWhitespace(text).empty()) return ids;
  int index = 0;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int32_t id = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("item ", index, " ('", item, "') is not an integer"));
    }
    ids.push_back(id);
    ++index;
  }
  return ids;
}

absl::StatusOr<std::string> UnescapeFlagText(absl::string_view text) {
  std::string out;
  std::string error;
  if (!absl::CUnescape(text, &out, &error)) {
    return absl::InvalidArgumentError(absl::StrCat("bad escape in \"", text, "\": ", error));
  }
  return out;
}

absl::StatusOr<std::map<int32_t, float>> ParseLogitBias(absl::string_view text) {
  std::map<int32_t, float> bias;
  if (absl::StripAsciiWhitespace(text).empty()) return bias;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    const absl::string_view entry = absl::StripAsciiWhitespace(item);
    const auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", entry, "': ", why, " (want ID:BIAS,..., e.g. 50256:-100,13:2.5)"));
    };
    const std::vector<absl::string_view> parts = absl::StrSplit(entry, ':');
    if (parts.size() != 2) return bad("not ID:BIAS");
    int32_t id = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(parts[0]), &id) || id < 0) {
      return bad("the id is not an integer >= 0");
    }
    float value = 0;
    if (!absl::SimpleAtof(absl::StripAsciiWhitespace(parts[1]), &value) || !std::isfinite(value)) {
      return bad("the bias is not a finite number");
    }
    if (std::fabs(value) > kMaxAbsLogitBias) return bad("the bias is outside [-100, 100]");
    if (!bias.emplace(id, value).second) return bad(absl::StrCat("id ", id, " appears twice"));
  }
  if (bias.size() > kMaxLogitBiasEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat(bias.size(), " entries, more than the cap of ", kMaxLogitBiasEntries));
  }
  return bias;
}

}  // namespace kvserve
