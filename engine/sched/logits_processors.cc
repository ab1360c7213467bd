#include "engine/sched/logits_processors.h"

#include <algorithm>
#include <cstring>

#include "engine/sched/logit_kernels.h"
#include "engine/sched/stop_rules.h"

namespace kvserve {

namespace {

bool PresenceOrFrequencyOn(const SamplingParams& p) {
  return p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f;
}

bool MinTokensActive(const RequestSampling& s, int64_t output_index) {
  return output_index < s.min_tokens && !s.min_tokens_masked_ids.empty();
}

bool PenaltiesActive(const RequestSampling& s) {
  const SamplingParams& p = s.params;
  if (p.repetition_penalty_on()) return !s.penalties.entries().empty();
  return PresenceOrFrequencyOn(p) && s.penalties.num_output() > 0;
}

}  // namespace

RequestSampling MakeRequestSampling(const GenerationParams& params, const ModelConfig& config) {
  RequestSampling s;
  s.params = params.sampling;
  s.min_tokens = params.min_tokens;
  s.logprobs = params.logprobs;
  if (params.min_tokens > 0) {
    std::vector<int32_t>& ids = s.min_tokens_masked_ids;
    if (!params.ignore_eos) ids = EosTokenIds(config);
    ids.insert(ids.end(), params.stop_token_ids.begin(), params.stop_token_ids.end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  }
  const int64_t prompt_len = static_cast<int64_t>(params.prompt_ids.size());
  const int64_t max_tokens = std::max<int64_t>(params.max_tokens, 0);
  if (s.params.repetition_penalty_on()) {
    s.penalties.Configure(PenaltyState::Track::kPromptAndOutput,
                          std::min<int64_t>(config.vocab_size, prompt_len + max_tokens));
  } else if (PresenceOrFrequencyOn(s.params)) {
    s.penalties.Configure(PenaltyState::Track::kOutput,
                          std::min<int64_t>(config.vocab_size, max_tokens));
  }
  s.penalties.Rebuild(params.prompt_ids, {});
  return s;
}

bool LogitsProcessorsActive(const RequestSampling& sampling, int64_t output_index) {
  return MinTokensActive(sampling, output_index) || !sampling.params.logit_bias.empty() ||
         PenaltiesActive(sampling);
}

void ApplyLogitsProcessors(absl::Span<const float> raw, const RequestSampling& sampling,
                           int64_t output_index, absl::Span<float> out) {
  const int64_t n = static_cast<int64_t>(raw.size());
  std::memcpy(out.data(), raw.data(), sizeof(float) * n);
  float* l = out.data();
  auto in_row = [n](int32_t id) { return id >= 0 && id < n; };
  // 1. min_tokens.
  if (MinTokensActive(sampling, output_index)) {
    for (int32_t id : sampling.min_tokens_masked_ids) {
      if (in_row(id)) l[id] = kNegInf;
    }
  }
  // 2. logit_bias.
  for (const LogitBias& b : sampling.params.logit_bias) {
    if (in_row(b.token)) l[b.token] += b.bias;
  }
  // 3-5. Penalties, per distinct token (each touches only its own logit, so the order of the
  // entries does not matter).
  const SamplingParams& p = sampling.params;
  const bool repetition = p.repetition_penalty_on();
  const float rep = p.repetition_penalty;
  const float frequency = p.frequency_penalty;
  const float presence = p.presence_penalty;
  for (const PenaltyState::Entry& e : sampling.penalties.entries()) {
    if (!in_row(e.token)) continue;
    float x = l[e.token];
    if (repetition) x = x > 0.0f ? x / rep : x * rep;  // every entry is in prompt or output
    if (e.output_count > 0) {
      x -= frequency * static_cast<float>(e.output_count);
      x -= presence;
    }
    l[e.token] = x;
  }
}

int32_t SampleNextToken(absl::Span<const float> logits, const RequestSampling& sampling,
                        int64_t output_index, SamplerScratch* scratch, TokenLogprobs* logprobs) {
  if (logits.empty()) return -1;
  absl::Span<const float> row = logits;
  if (LogitsProcessorsActive(sampling, output_index)) {
    std::vector<float>& processed = scratch->processed;
    if (processed.size() < logits.size()) processed.resize(logits.size());
    absl::Span<float> out = absl::MakeSpan(processed.data(), logits.size());
    ApplyLogitsProcessors(logits, sampling, output_index, out);
    row = out;
  }
  const int32_t token = SampleToken(row, sampling.params, output_index, scratch);
  if (logprobs != nullptr) {
    ComputeTokenLogprobs(logits, token, sampling.logprobs.value_or(0), scratch, logprobs);
  }
  return token;
}

}  // namespace kvserve
