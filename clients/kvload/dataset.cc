#include "clients/kvload/dataset.h"

#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace kvserve::load {

absl::StatusOr<std::vector<DatasetEntry>> ParseDataset(absl::string_view text,
                                                       absl::string_view name) {
  std::vector<DatasetEntry> entries;
  int64_t line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    const auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(name, ":", line_no, ": ", why));
    };
    const nlohmann::json doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return bad("not valid JSON");
    if (!doc.is_object()) return bad("not a JSON object");
    const auto prompt = doc.find("prompt");
    if (prompt == doc.end() || !prompt->is_string() || prompt->get<std::string>().empty()) {
      return bad("\"prompt\" must be a non-empty string");
    }
    DatasetEntry entry;
    entry.prompt = prompt->get<std::string>();
    for (const char* key : {"max_tokens", "output_len"}) {
      const auto it = doc.find(key);
      if (it == doc.end()) continue;
      if (!it->is_number_integer() || it->get<int64_t>() <= 0 ||
          it->get<int64_t>() > std::numeric_limits<int32_t>::max()) {
        return bad(absl::StrCat("\"", key, "\" must be a positive integer"));
      }
      entry.max_tokens = static_cast<int32_t>(it->get<int64_t>());
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty()) return absl::InvalidArgumentError(absl::StrCat(name, ": no prompt in it"));
  return entries;
}

absl::StatusOr<std::vector<DatasetEntry>> ReadDataset(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--dataset: cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return ParseDataset(text.str(), path);
}

}  // namespace kvserve::load
