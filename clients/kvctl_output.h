// How kvctl shows what the server sent: token text made visible (escaped and quoted), finish and
// stop reasons, and logprobs as a table.
//
//   QuoteText("a\nb")          → "\"a\\nb\"": backslash escapes for '"', '\\', \n, \r, \t and
//                                other control bytes (\xNN); UTF-8 left as it is.
//   FinishText(sample)         → "finish=stop stop=\"\\n\\n\"", "finish=stop stop_token=2",
//                                "finish=length".
//   FormatLogprobTable(title, entries) →
//     title:
//        pos        id  token             logprob  rank  top
//          0        72  "H"               -1.2346     1  "H" -1.2346, "a" -2.0001
//     (`pos` counts from `first_pos`; the top column only when some entry has alternatives;
//     "title: none (the server sent none)" for no entries)
//
// Threads: pure functions.
#ifndef KVSERVE_CLIENTS_KVCTL_OUTPUT_H_
#define KVSERVE_CLIENTS_KVCTL_OUTPUT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "clients/generate_call.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve {

std::string QuoteText(absl::string_view text);

// "length", "stop", "unspecified".
const char* FinishName(int32_t finish_reason);

std::string FinishText(const SampleRecord& sample);

std::string FormatLogprobTable(absl::string_view title,
                               const std::vector<v1::TokenLogprob>& entries, int first_pos = 0);

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_KVCTL_OUTPUT_H_
