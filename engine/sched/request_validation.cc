#include "engine/sched/request_validation.h"

#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace kvserve {

namespace {

bool InVocab(int32_t id, const ModelConfig& config) { return id >= 0 && id < config.vocab_size; }

absl::Status CheckPenalty(absl::string_view field, float value) {
  if (std::isnan(value) || value < -kMaxAbsPresenceFrequencyPenalty ||
      value > kMaxAbsPresenceFrequencyPenalty) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " must be in [-", kMaxAbsPresenceFrequencyPenalty, ", ",
        kMaxAbsPresenceFrequencyPenalty, "] (0 = off), got ", FormatFloatExactly(value)));
  }
  return absl::OkStatus();
}

// The proto field is a map<int32, float>, so an entry is named by its key: logit_bias[<id>].
absl::Status CheckLogitBias(const std::vector<LogitBias>& entries, const ModelConfig& config) {
  if (entries.size() > kMaxLogitBiasEntries) {
    return absl::InvalidArgumentError(absl::StrCat("sampling.logit_bias has ", entries.size(),
                                                   " entries, more than the cap of ",
                                                   kMaxLogitBiasEntries));
  }
  for (const LogitBias& e : entries) {
    if (!InVocab(e.token, config)) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampling.logit_bias[", e.token, "]: token id ", e.token,
                       " is outside the vocabulary [0, ", config.vocab_size, ")"));
    }
    if (!std::isfinite(e.bias) || e.bias < -kMaxAbsLogitBias || e.bias > kMaxAbsLogitBias) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sampling.logit_bias[", e.token, "] must be finite and in [-", kMaxAbsLogitBias, ", ",
          kMaxAbsLogitBias, "], got ", FormatFloatExactly(e.bias)));
    }
  }
  // A proto map cannot repeat a key, but a GenerationParams built in code can.
  absl::flat_hash_set<int32_t> seen;
  seen.reserve(entries.size());
  for (const LogitBias& e : entries) {
    if (!seen.insert(e.token).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("sampling.logit_bias[", e.token, "] is given more than once"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckLogprobs(absl::string_view field, const std::optional<int32_t>& value) {
  if (value.has_value() && (*value < 0 || *value > kMaxLogprobs)) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be in [0, ", kMaxLogprobs,
                                                   "] (or unset for none), got ", *value));
  }
  return absl::OkStatus();
}

}  // namespace

std::string FormatFloatExactly(float value) {
  // The shortest %g form that reads back as the same float: 1.0000001f prints as "1.0000001", not
  // as StrCat's six-digit "1", so a refusal shows the value that broke the rule.
  std::string text;
  for (int digits = 6; digits <= 9; ++digits) {
    text = absl::StrFormat("%.*g", digits, value);
    if (std::strtof(text.c_str(), nullptr) == value) break;
  }
  return text;
}

absl::Status ValidateGenerationParams(const GenerationParams& params, const ModelConfig& config,
                                      const ServingLimits& limits) {
  // The prompt.
  if (!params.has_prompt) {
    return absl::InvalidArgumentError("prompt is required: set prompt.text or prompt.token_ids");
  }
  if (params.prompt_ids.empty()) {
    return absl::InvalidArgumentError("prompt must not be empty");
  }
  for (size_t i = 0; i < params.prompt_ids.size(); ++i) {
    const int32_t id = params.prompt_ids[i];
    if (!InVocab(id, config)) {
      return absl::InvalidArgumentError(absl::StrCat("prompt.token_ids[", i, "] is ", id,
                                                     ", outside the vocabulary [0, ",
                                                     config.vocab_size, ")"));
    }
  }
  const int64_t prompt_len = static_cast<int64_t>(params.prompt_ids.size());
  if (prompt_len > config.max_context) {
    return absl::InvalidArgumentError(absl::StrCat("prompt has ", prompt_len,
                                                   " tokens, more than the model's context of ",
                                                   config.max_context));
  }

  if (limits.max_prompt_tokens > 0 && prompt_len > limits.max_prompt_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt has ", prompt_len, " tokens, more than the server's ",
                     "max_prompt_tokens of ", limits.max_prompt_tokens));
  }

  // The length of the generation.
  if (params.max_tokens <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens must be > 0, got ", params.max_tokens));
  }
  if (prompt_len + params.max_tokens > config.max_context) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_tokens ", params.max_tokens, " plus the prompt's ", prompt_len, " tokens is ",
        prompt_len + params.max_tokens, ", more than the model's context of ", config.max_context,
        " (at most ", config.max_context - prompt_len, " new tokens fit)"));
  }

  if (limits.page_size > 0 && limits.total_pages > 0) {
    const int64_t tokens = prompt_len + params.max_tokens;
    const int64_t pages = (tokens + limits.page_size - 1) / limits.page_size;
    if (pages > limits.total_pages) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt + max_tokens = ", tokens, " tokens needs ", pages,
                       " KV pages; the server's cache has ", limits.total_pages));
    }
  }

  // Sampling. Proto3 zeros (greedy, top_k off, top_p off) are valid.
  const SamplingParams& s = params.sampling;
  if (!std::isfinite(s.temperature) || s.temperature < 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.temperature must be finite and >= 0 (0 = greedy), got ",
                     FormatFloatExactly(s.temperature)));
  }
  if (std::isnan(s.top_p) || s.top_p < 0.0f || s.top_p > 1.0f) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling.top_p must be in (0, 1], or 0 for off, got ", FormatFloatExactly(s.top_p)));
  }
  if (s.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.top_k must be >= 0 (0 = off), got ", s.top_k));
  }
  if (std::isnan(s.min_p) || s.min_p < 0.0f || s.min_p > 1.0f) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling.min_p must be in (0, 1], or 0 for off, got ", FormatFloatExactly(s.min_p)));
  }
  if (!std::isfinite(s.repetition_penalty) || s.repetition_penalty < 0.0f) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.repetition_penalty must be finite and > 0 (1 or 0 = off), got ",
                     FormatFloatExactly(s.repetition_penalty)));
  }
  if (absl::Status st = CheckPenalty("sampling.presence_penalty", s.presence_penalty); !st.ok()) {
    return st;
  }
  if (absl::Status st = CheckPenalty("sampling.frequency_penalty", s.frequency_penalty); !st.ok()) {
    return st;
  }
  if (absl::Status st = CheckLogitBias(s.logit_bias, config); !st.ok()) return st;

  // Stop tokens: checked against every sampled token, so their number is capped.
  if (params.stop_token_ids.size() > kMaxStopTokenIds) {
    return absl::InvalidArgumentError(
        absl::StrCat("stop_token_ids has ", params.stop_token_ids.size(),
                     " entries, more than the cap of ", kMaxStopTokenIds));
  }
  for (size_t i = 0; i < params.stop_token_ids.size(); ++i) {
    const int32_t id = params.stop_token_ids[i];
    if (!InVocab(id, config)) {
      return absl::InvalidArgumentError(absl::StrCat("stop_token_ids[", i, "] is ", id,
                                                     ", outside the vocabulary [0, ",
                                                     config.vocab_size, ")"));
    }
  }

  // Stop strings: searched after every token, so capped too.
  if (params.stop_strings.size() > kMaxStopStrings) {
    return absl::InvalidArgumentError(absl::StrCat("stop has ", params.stop_strings.size(),
                                                   " strings, more than the cap of ",
                                                   kMaxStopStrings));
  }
  for (size_t i = 0; i < params.stop_strings.size(); ++i) {
    const size_t bytes = params.stop_strings[i].size();
    if (bytes == 0 || bytes > kMaxStopStringBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stop[", i, "] has ", bytes, " bytes; a stop string needs 1 to ", kMaxStopStringBytes));
    }
  }
  if (params.n < 0 || params.n > kMaxSamples) {
    return absl::InvalidArgumentError(
        absl::StrCat("n must be in [1, ", kMaxSamples, "] (0 = 1), got ", params.n));
  }
  // Output controls.
  if (params.min_tokens < 0 || params.min_tokens > params.max_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_tokens must be in [0, max_tokens = ", params.max_tokens,
                     "] (0 = off), got ", params.min_tokens));
  }
  if (absl::Status st = CheckLogprobs("logprobs", params.logprobs); !st.ok()) return st;
  if (absl::Status st = CheckLogprobs("prompt_logprobs", params.prompt_logprobs); !st.ok()) {
    return st;
  }
  return absl::OkStatus();
}

}  // namespace kvserve
