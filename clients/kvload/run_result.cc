#include "clients/kvload/run_result.h"

#include <algorithm>
#include <cstdint>

namespace kvserve::load {

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kOk:
      return "ok";
    case Outcome::kCancelled:
      return "cancelled";
    case Outcome::kAborted:
      return "aborted";
    case Outcome::kError:
      return "error";
  }
  return "unknown";
}

int64_t RequestRecord::LongestSampleTokens() const {
  if (sample_tokens.empty()) return tokens;
  return *std::max_element(sample_tokens.begin(), sample_tokens.end());
}

double RequestRecord::TpotSeconds() const {
  const int64_t longest = LongestSampleTokens();
  if (longest < 2 || messages.empty()) return -1;
  return (end_s - TtftSeconds()) / static_cast<double>(longest - 1);
}

const char* StatusCodeName(int32_t code) {
  // grpc::StatusCode values, which are the canonical gRPC codes.
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int32_t>(sizeof(kNames) / sizeof(kNames[0]))) {
    return "UNKNOWN_CODE";
  }
  return kNames[code];
}

}  // namespace kvserve::load
