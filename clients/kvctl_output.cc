#include "clients/kvctl_output.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "clients/generate_call.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve {
namespace {

// Columns the terminal shows for `text`: one per UTF-8 code point (continuation bytes add none).
size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++width;
  }
  return width;
}

// `text` padded with spaces to `width` columns.
std::string PadRight(std::string text, size_t width) {
  const size_t w = DisplayWidth(text);
  if (w < width) text.append(width - w, ' ');
  return text;
}

}  // namespace

std::string QuoteText(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (b < 0x20 || b == 0x7F) {
          absl::StrAppendFormat(&out, "\\x%02x", b);
        } else {
          out.push_back(c);
        }
    }
  }
  out += "\"";
  return out;
}

const char* FinishName(int32_t finish_reason) {
  switch (finish_reason) {
    case v1::FINISH_REASON_LENGTH:
      return "length";
    case v1::FINISH_REASON_STOP:
      return "stop";
    default:
      return "unspecified";
  }
}

std::string FinishText(const SampleRecord& sample) {
  std::string out = absl::StrCat("finish=", FinishName(sample.finish_reason));
  if (sample.has_stop_string) {
    absl::StrAppend(&out, " stop=", QuoteText(sample.stop_string));
  } else if (sample.stop_token_id >= 0) {
    absl::StrAppend(&out, " stop_token=", sample.stop_token_id);
  }
  return out;
}

std::string FormatLogprobTable(absl::string_view title,
                               const std::vector<v1::TokenLogprob>& entries, int first_pos) {
  if (entries.empty()) return absl::StrCat(title, ": none (the server sent none)\n");
  bool has_top = false;
  size_t token_width = 5;  // "token"
  for (const v1::TokenLogprob& e : entries) {
    has_top = has_top || e.top_size() > 0;
    token_width = std::max(token_width, DisplayWidth(QuoteText(e.text())));
  }
  token_width = std::min<size_t>(token_width, 24);
  std::string out = absl::StrCat(title, ":\n");
  absl::StrAppendFormat(&out, "  %5s  %8s  %s  %10s  %4s%s\n", "pos", "id",
                        PadRight("token", token_width), "logprob", "rank", has_top ? "  top" : "");
  int pos = first_pos;
  for (const v1::TokenLogprob& e : entries) {
    absl::StrAppendFormat(&out, "  %5d  %8d  %s  %10.4f  %4d", pos++, e.token_id(),
                          PadRight(QuoteText(e.text()), token_width), e.logprob(), e.rank());
    for (int i = 0; i < e.top_size(); ++i) {
      const v1::TopLogprob& t = e.top(i);
      absl::StrAppendFormat(&out, "%s%s %.4f", i == 0 ? "  " : ", ", QuoteText(t.text()),
                            t.logprob());
    }
    out += "\n";
  }
  return out;
}

}  // namespace kvserve
