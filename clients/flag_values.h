// Parsers for the values of kvctl's and kvload's generation flags. Each returns INVALID_ARGUMENT
// with a message that names what is wrong (the caller prefixes the flag's name).
//
//   ParseIdList       "1,2, 3" → {1, 2, 3}; empty text → {}.
//   UnescapeFlagText  C escapes, so that a shell user can type a newline: "\n\n" (backslash, n),
//                     "\t", "\\", "\"", "\x41", "\101", "\u00e9" → the bytes (UTF-8 for \u).
//   ParseLogitBias    "ID:BIAS,ID:BIAS" → id → bias: ids >= 0, each once; biases finite numbers
//                     in [-100, 100]; at most 1024 entries; empty text → {}.
//
// Threads: pure functions.
#ifndef KVSERVE_CLIENTS_FLAG_VALUES_H_
#define KVSERVE_CLIENTS_FLAG_VALUES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvserve {

// The proto's bounds on logit_bias (kvserve.v1.SamplingParams).
inline constexpr float kMaxAbsLogitBias = 100.0f;
inline constexpr size_t kMaxLogitBiasEntries = 1024;

absl::StatusOr<std::vector<int32_t>> ParseIdList(absl::string_view text);

absl::StatusOr<std::string> UnescapeFlagText(absl::string_view text);

absl::StatusOr<std::map<int32_t, float>> ParseLogitBias(absl::string_view text);

}  // namespace kvserve

#endif  // KVSERVE_CLIENTS_FLAG_VALUES_H_
