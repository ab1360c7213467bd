// GenerationParams: one generation request as the engine receives it, and the checks that decide
// whether the engine accepts it.
//
// The server fills a GenerationParams from a GenerateRequest (tokenizing a text prompt, replacing
// seed 0 by a chosen seed) and calls ValidateGenerationParams before queueing it. The engine may
// then rely on:
//   * a non-empty prompt of ids inside [0, vocab_size), no longer than the model's context;
//   * 0 < max_tokens and prompt + max_tokens <= max_context, so generation always fits;
//   * temperature finite and >= 0; top_k >= 0; top_p 0 (off) or in (0, 1]; min_p 0 (off) or in
//     (0, 1]; repetition_penalty 0 (off) or > 0 and finite; presence_penalty and
//     frequency_penalty in [-2, 2];
//   * at most kMaxLogitBiasEntries logit_bias entries, distinct ids inside the vocabulary, each
//     bias finite and within [-kMaxAbsLogitBias, kMaxAbsLogitBias];
//   * at most kMaxStopTokenIds stop token ids, each inside the vocabulary;
//   * at most kMaxStopStrings stop strings, each of 1..kMaxStopStringBytes bytes;
//   * 0 <= n <= kMaxSamples (0 means 1);
//   * 0 <= min_tokens <= max_tokens; logprobs and prompt_logprobs unset or in [0, kMaxLogprobs];
//   * with ServingLimits: a prompt of at most max_prompt_tokens, and prompt + max_tokens within
//     the pages of the whole KV cache (or the request could never run).
//
// Where a request is accepted, in order (this is the one list): the server's transport checks
// (server/generation_service.h: bearer token, the bytes parse as a GenerateRequest, the server
// still accepting, request_id length, a live-stream slot), then these checks, then the queue
// (Scheduler::Submit: RESOURCE_EXHAUSTED when max_waiting are queued, UNAVAILABLE once shutting
// down).
// A refusal is INVALID_ARGUMENT whose message starts with the proto field path of the first bad
// field, checked in this order: "prompt", "prompt.token_ids[3]", "max_tokens",
// "sampling.temperature", "sampling.top_p", "sampling.top_k", "sampling.min_p",
// "sampling.repetition_penalty", "sampling.presence_penalty", "sampling.frequency_penalty",
// "sampling.logit_bias" (too many entries) or "sampling.logit_bias[<token id>]" (the map key),
// "stop_token_ids[1]", "stop" / "stop[0]", "n", "min_tokens", "logprobs", "prompt_logprobs";
// so the server can pass it to the client as is.
//
// Threads: plain values and a pure function; usable from any thread.
#ifndef KVSERVE_ENGINE_SCHED_REQUEST_VALIDATION_H_
#define KVSERVE_ENGINE_SCHED_REQUEST_VALIDATION_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/model_config.h"
#include "engine/sched/logprobs.h"
#include "engine/sched/sampler.h"

namespace kvserve {

// Most stop_token_ids one request may give. Each sampled token is checked against them, and a
// request's ids live as long as it does: without a cap, a 4 MiB request of a million ids costs
// every step of every other request (and ~36 MB while it runs). Real stop sets are a handful.
inline constexpr size_t kMaxStopTokenIds = 1024;
// Stop strings: each generated token is searched for them, so their number and size are capped.
inline constexpr size_t kMaxStopStrings = 16;
inline constexpr size_t kMaxStopStringBytes = 256;
// Most samples of one prompt (`n`).
inline constexpr int32_t kMaxSamples = 16;

// Most logit_bias entries one request may give (each costs one add per sampled token), and the
// largest |bias| (OpenAI's range: -100 bans a token, +100 forces it).
inline constexpr size_t kMaxLogitBiasEntries = 1024;
inline constexpr float kMaxAbsLogitBias = 100.0f;
// The largest |presence_penalty| and |frequency_penalty| (OpenAI's range).
inline constexpr float kMaxAbsPresenceFrequencyPenalty = 2.0f;

// `value` in the fewest significant digits (6 to 9) that read back as exactly `value`, for
// messages about a float that broke a rule ("1.0000001", where "%g" would say "1").
std::string FormatFloatExactly(float value);

struct GenerationParams {
  // False when the request set neither prompt.text nor prompt.token_ids (the proto oneof is empty).
  bool has_prompt = false;
  // The prompt's tokens: prompt.token_ids as given, or prompt.text tokenized (with BOS if the
  // server adds one). Empty text gives an empty prompt, which is refused.
  std::vector<int32_t> prompt_ids;
  int32_t max_tokens = 0;
  SamplingParams sampling;  // proto defaults (all 0) mean greedy
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  // Text stop sequences (output_text.h), and whether the matched one stays in the text.
  std::vector<std::string> stop_strings;
  bool include_stop_str_in_output = false;
  // Independent samples of the prompt (0 counts as 1): the scheduler forks the prompt's pages.
  int32_t n = 1;
  // While fewer than min_tokens tokens are generated, the ids that would stop the request (EOS
  // unless ignore_eos, stop_token_ids) cannot be sampled. 0 = off.
  int32_t min_tokens = 0;
  // Unset: no log-probabilities. N in [0, kMaxLogprobs]: every generated token comes with its
  // log-probability and rank plus the N most likely alternatives (logprobs.h).
  std::optional<int32_t> logprobs;
  // Unset: none. N in [0, kMaxLogprobs]: every prompt token but the first comes with its
  // log-probability given the tokens before it, its rank and the N most likely alternatives.
  std::optional<int32_t> prompt_logprobs;
};

// OK, or INVALID_ARGUMENT naming the first bad field (see the file comment). `config` is the
// served model's (its vocab_size, max_context).
// The serving bounds beyond the model's own; 0 means none.
struct ServingLimits {
  int32_t max_prompt_tokens = 0;  // the server's --max_prompt_tokens
  int32_t page_size = 0;          // the KV cache's pages and their size
  int64_t total_pages = 0;
};

absl::Status ValidateGenerationParams(const GenerationParams& params, const ModelConfig& config,
                                      const ServingLimits& limits = {});

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_REQUEST_VALIDATION_H_
