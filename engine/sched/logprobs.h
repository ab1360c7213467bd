// Log-probabilities: for a chosen token, its log-probability and rank under a logits row and the
// row's most likely alternatives — what `logprobs` (generated tokens) and `prompt_logprobs`
// (prompt tokens) return.
//
// The distribution is the model's RAW one: log_softmax of the row exactly as the model produced
// it, before logit_bias, penalties, min_tokens, temperature, min_p, top_k and top_p (vLLM's
// default "raw_logprobs"; OpenAI's logprobs are also of the unmodified distribution). So the
// sampled token may have a low logprob, and asking for logprobs never changes what is sampled.
//
// Promises, for a row l of n logits:
//   * logprob(i) = l[i] - max - log Σ_j exp(l[j] - max), with max the largest logit: stable for
//     any finite magnitude (no overflow), the sum accumulated in double in a fixed order, the
//     differences taken in double; the result is rounded once to float. Against an exact
//     evaluation it is within ~1e-6 + 2 float ulps of the value.
//   * NaN logits count as -inf. A -inf logit has logprob -inf. If the largest logit is +inf, the
//     +inf logits share the probability (each logprob -log(count)), every other is -inf; if every
//     logit is -inf or NaN, every logprob is -inf.
//   * the order is (logprob desc, id asc) — ties towards the lower id, the order sampling uses —
//     and rank(i) is i's 1-based position in it: 1 + #{j: l[j] > l[i]} + #{j < i: l[j] == l[i]}.
//     (vLLM counts every tie as ahead; the two differ only on exactly equal logits.) A token in
//     the top N appears in `top` at index rank - 1.
//   * no heap allocation: TokenLogprobs has a fixed capacity, and the scratch is the sampler's
//     (grown once to the vocabulary). O(vocab) per call: a max, an exp pass, a count, a top-N heap.
//
// Threads: pure functions apart from the caller's scratch; one scratch per thread.
#ifndef KVSERVE_ENGINE_SCHED_LOGPROBS_H_
#define KVSERVE_ENGINE_SCHED_LOGPROBS_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "engine/sched/sampler.h"

namespace kvserve {

// The most alternatives one token may ask for (OpenAI's top_logprobs and vLLM's default bound).
inline constexpr int32_t kMaxLogprobs = 20;

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;

  bool operator==(const TokenLogprob&) const = default;
};

// One position's log-probabilities: the chosen token's, and the top alternatives.
struct TokenLogprobs {
  int32_t token = -1;                          // the chosen (sampled, or prompt) token
  float logprob = 0.0f;                        // its log-probability under the raw distribution
  int32_t rank = 0;                            // its 1-based rank in (logprob desc, id asc) order
  int32_t num_top = 0;                         // how many of `top` are filled: min(N asked, vocab)
  std::array<TokenLogprob, kMaxLogprobs> top;  // the num_top most likely, in rank order

  absl::Span<const TokenLogprob> top_span() const { return {top.data(), size_t(num_top)}; }
};

// The log-probabilities of `token` under `logits`, with the `num_top` (clamped to [0,
// kMaxLogprobs] and to the vocabulary) most likely alternatives. A token outside the row gets
// logprob -inf and rank 0. Uses scratch->weights and scratch->ids.
void ComputeTokenLogprobs(absl::Span<const float> logits, int32_t token, int32_t num_top,
                          SamplerScratch* scratch, TokenLogprobs* out);

// Prompt logprobs from the rows of one all_logits chunk (step_engine.h): row j holds the logits
// after the prompt token at position `first_position + j`, so it predicts position
// first_position + j + 1. Appends, for every such position still inside `prompt`, the
// TokenLogprobs of that prompt token. Called on the chunks of a prompt in order from position 0,
// `*out` ends with prompt.size() - 1 entries: entry t - 1 is prompt token t (token 0 has none, as
// OpenAI and vLLM return null for it). `rows` holds whole rows of `vocab_size` floats.
void AppendPromptLogprobs(absl::Span<const float> rows, int32_t vocab_size,
                          absl::Span<const int32_t> prompt, int32_t first_position, int32_t num_top,
                          SamplerScratch* scratch, std::vector<TokenLogprobs>* out);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_LOGPROBS_H_
