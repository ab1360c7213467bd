// Logits processors: what happens to one request's logits row before SampleToken (sampler.h), and
// SampleNextToken, the one per-token entry point the scheduler calls for every sampled row.
//
// The order (vLLM v1's), each step on the row the previous one left:
//   1. min_tokens: while output_index < min_tokens, every id that would stop the request (what
//      CheckStop stops on: the model's EOS ids unless ignore_eos, and the request's
//      stop_token_ids) becomes -inf;
//   2. logit_bias: logit[id] += bias;
//   3. repetition penalty p, for every id in the prompt or the output so far (HF/CTRL):
//      logit = logit > 0 ? logit / p : logit * p;
//   4. frequency penalty f, for every id generated `count` > 0 times: logit -= f * float(count);
//   5. presence penalty r, for every id generated at least once: logit -= r;
//   then SampleToken: the argmax when greedy (so 1-5 DO apply to greedy requests), else
//   temperature, min_p, top_k, top_p and the counter-based draw.
// Logprobs (logprobs.h), when asked for, are of the RAW row (before 1-5 and temperature),
// computed after the token is chosen: asking for them never changes it.
//
// SampleNextToken promises:
//   * the token depends only on (logits, params, the PenaltyState, output_index): the processors
//     are deterministic and the only randomness is SampleToken's SamplingUniform(seed,
//     output_index). Same seed, prompt and params give the same tokens whatever the batching, the
//     timing, a preemption, or whether logprobs are asked for.
//   * fast path: when no processor acts on this token (no logit_bias; min_tokens reached, or
//     nothing to mask; no penalty on, or nothing for it to act on yet — presence and frequency
//     before the first output token), the row goes to SampleToken as is: no copy,
//     scratch->processed untouched, the same cost as SampleToken.
//   * otherwise the row is copied once into scratch->processed (grown to the vocabulary once, then
//     reused: no allocation) and edited in place: O(vocab) for the copy plus O(masked ids + bias
//     entries + distinct penalized tokens).
//   * tokens made -inf are never sampled while another token is left (SampleToken's rule).
//   Measured on one (shared) core, 256 output tokens and a 512-token prompt tracked: the active
//   path adds about 0.2 us per call at vocab 259 and 10-15 us at vocab 152k (mostly the copy) to
//   SampleToken's cost; logprobs add 0.2-1 us at 259 and 100-150 us at 152k (0 to 20
//   alternatives).
//
// Per request, the scheduler keeps one RequestSampling (MakeRequestSampling at admission), calls
// SampleNextToken(row, sampling, num_generated, ...) for each sampled row and then
// sampling.Accept(token). Preemption changes nothing (the state is a function of prompt + output,
// which the scheduler keeps); Rebuild(prompt, output) restores it exactly if it was dropped.
//
// Threads: RequestSampling is owned by the request's owner (the scheduler thread); the functions
// are pure apart from the caller's SamplerScratch (one per thread).
#ifndef KVSERVE_ENGINE_SCHED_LOGITS_PROCESSORS_H_
#define KVSERVE_ENGINE_SCHED_LOGITS_PROCESSORS_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "engine/model/model_config.h"
#include "engine/sched/logprobs.h"
#include "engine/sched/penalty_state.h"
#include "engine/sched/request_validation.h"
#include "engine/sched/sampler.h"

namespace kvserve {

// Everything the per-token pipeline needs about one (validated) request.
struct RequestSampling {
  SamplingParams params;  // temperature, top_k, top_p, min_p, seed, penalties, logit_bias
  int32_t min_tokens = 0;
  // The ids masked while output_index < min_tokens: EOS (unless ignore_eos) and stop_token_ids,
  // sorted, each once. Empty when min_tokens is 0.
  std::vector<int32_t> min_tokens_masked_ids;
  // The request's `logprobs`: with a TokenLogprobs to fill, SampleNextToken returns this many
  // alternatives (0 when unset).
  std::optional<int32_t> logprobs;
  // What the penalties know of prompt and output (tracks nothing when no penalty is on).
  PenaltyState penalties;

  // Records a generated token (call once per token, after SampleNextToken).
  void Accept(int32_t token) { penalties.Add(token); }
  // Restores `penalties` from the request's tokens; the result equals the incremental state.
  void Rebuild(absl::Span<const int32_t> prompt, absl::Span<const int32_t> output) {
    penalties.Rebuild(prompt, output);
  }
};

// The pipeline's state for a request at admission (no output yet). `config` is the served
// model's (its EOS ids and vocabulary size).
RequestSampling MakeRequestSampling(const GenerationParams& params, const ModelConfig& config);

// Whether any of steps 1-5 changes the row of output index `output_index`.
bool LogitsProcessorsActive(const RequestSampling& sampling, int64_t output_index);

// Steps 1-5 on `raw` into `out` (same size; must not overlap). Ids outside the row are ignored.
void ApplyLogitsProcessors(absl::Span<const float> raw, const RequestSampling& sampling,
                           int64_t output_index, absl::Span<float> out);

// The token for output index `output_index` (tokens generated so far) of the request, from its
// raw logits row; see the file comment. With `logprobs` not null, also fills it (raw
// distribution, sampling.logprobs alternatives). -1 if `logits` is empty.
int32_t SampleNextToken(absl::Span<const float> logits, const RequestSampling& sampling,
                        int64_t output_index, SamplerScratch* scratch,
                        TokenLogprobs* logprobs = nullptr);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_LOGITS_PROCESSORS_H_
