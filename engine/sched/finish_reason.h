// FinishReason: why a request's generation ended, as the engine sees it.
//
// kNone means "not finished, keep generating". The values map one-to-one onto the proto's
// FINISH_REASON_{UNSPECIFIED, LENGTH, STOP}; the server does that translation (engine/ never sees
// the proto).
//
// Threads: a plain enum; usable from any thread.
#ifndef KVSERVE_ENGINE_SCHED_FINISH_REASON_H_
#define KVSERVE_ENGINE_SCHED_FINISH_REASON_H_

#include <cstdint>

namespace kvserve {

enum class FinishReason : int8_t {
  kNone = 0,    // still generating
  kLength = 1,  // max_tokens reached (or the model's context filled)
  kStop = 2,    // EOS (unless ignored) or one of the request's stop token ids was emitted
};

// "none", "length" or "stop": for logs and debug strings.
constexpr const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kStop:
      return "stop";
  }
  return "unknown";
}

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_FINISH_REASON_H_
