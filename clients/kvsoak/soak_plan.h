// SoakPlan: what kvsoak sends for one request, and what it may legitimately get back.
//
// Every request is one of four kinds, drawn from its own RNG stream (seed, index) so that a run is
// repeatable and a request's plan does not depend on timing or on the plans before it:
//   * kNormal   — a valid request left alone: it must end OK.
//   * kCancel   — valid; the client cancels it after `cancel_after_tokens` received tokens: it
//                 ends CANCELLED, or OK if its last message arrived first.
//   * kDeadline — valid, with a short deadline (`deadline_ms`): DEADLINE_EXCEEDED, or OK.
//   * kInvalid  — broken in one way (`invalid`): INVALID_ARGUMENT naming `ExpectedField`, with
//                 no message before it.
// Valid requests mix prompt and output lengths inside the model's context (token id prompts over
// byte ids, greedy or seeded sampling, with or without ignore_eos, some with n = 2..3 samples or a
// stop string), so the long ones fill a small KV cache and get preempted.
//
// Threads: plain values and pure functions.
#ifndef KVSERVE_CLIENTS_KVSOAK_SOAK_PLAN_H_
#define KVSERVE_CLIENTS_KVSOAK_SOAK_PLAN_H_

#include <cstdint>

#include "absl/status/status.h"
#include "clients/kvload/workload.h"
#include "kvserve/v1/kvserve.pb.h"

namespace kvserve::soak {

enum class SoakKind { kNormal, kCancel, kDeadline, kInvalid };
const char* SoakKindName(SoakKind kind);

enum class InvalidWay {
  kZeroMaxTokens,     // max_tokens = 0
  kBeyondContext,     // prompt + max_tokens > max_context
  kTokenBeyondVocab,  // a prompt id == vocab_size
  kEmptyPrompt,       // prompt.token_ids set but empty
  kNanTemperature,    // sampling.temperature = NaN
};
constexpr int kNumInvalidWays = 5;
// The field the server's INVALID_ARGUMENT message must start with for `way`.
const char* ExpectedField(InvalidWay way);

// The served model's limits, from GetServerInfo.
struct ModelLimits {
  int32_t vocab_size = 0;
  int32_t max_context = 0;
};

struct SoakMix {
  double cancel_fraction = 0.20;
  double deadline_fraction = 0.10;
  double invalid_fraction = 0.05;
  load::LengthRange prompt_len{1, 96};
  load::LengthRange max_tokens{1, 96};
  load::LengthRange deadline_ms{5, 50};
  // Share of valid requests made long (prompt + output near the whole context).
  double long_fraction = 0.05;
  // Shares of valid requests with n = 2 or 3 samples, and with a 1–2 letter stop string.
  double samples_fraction = 0.15;
  double stop_string_fraction = 0.15;
};

// Checks fractions (each in [0, 1], summing to at most 1) and ranges against `limits`
// (prompt_len.hi + max_tokens.hi <= max_context, vocab_size > 0).
absl::Status ValidateSoakMix(const SoakMix& mix, const ModelLimits& limits);

struct SoakPlan {
  int64_t index = 0;
  SoakKind kind = SoakKind::kNormal;
  InvalidWay invalid = InvalidWay::kZeroMaxTokens;  // kInvalid only
  int32_t cancel_after_tokens = -1;                 // kCancel only; >= 1
  int32_t deadline_ms = 0;                          // kDeadline only
  int32_t prompt_len = 0;
  kvserve::v1::GenerateRequest request;
};

// Request `index` of the run seeded `seed`; `mix` must pass ValidateSoakMix for `limits`.
SoakPlan MakeSoakPlan(const SoakMix& mix, const ModelLimits& limits, uint64_t seed, int64_t index);

}  // namespace kvserve::soak

#endif  // KVSERVE_CLIENTS_KVSOAK_SOAK_PLAN_H_
