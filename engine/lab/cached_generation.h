// Cached generation, part of the KV-cache lab (engine/lab/, linked by tests and kvbench, not by
// the daemon): one sequence, greedy decoding, with or without a KV cache, counting the attention
// operations each way, so that the two give identical tokens at N vs N(N+1)/2 attention ops.
//
// An "attention op" is one query position attending over its prefix. Generating from a 1-token
// prompt for N forward steps costs N ops with a cache (each position is computed once) and
// 1 + 2 + ... + N = N(N+1)/2 without (every step recomputes every position).
//
// All three modes run the same deterministic per-row fp32 code (engine/lab/naive_ops.h), so they
// give bit-identical logits and therefore identical tokens; only the work differs:
//   kNone          every step recomputes K/V for the whole sequence (a fresh FullKvCache per pass)
//   kFull          one FullKvCache per layer, fed only the new tokens (UpdateAndFetch)
//   kPreallocated  one PreallocatedKvCache per layer (Update at the position, Get up to the end)
// The batched, paged, oneDNN path is ModelRunner; this one exists to state the idea plainly and to
// measure it (kvbench cache-vs-recompute).
//
// Threads: pure functions of their arguments; safe from any thread.
#ifndef KVSERVE_ENGINE_LAB_CACHED_GENERATION_H_
#define KVSERVE_ENGINE_LAB_CACHED_GENERATION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/model_weights.h"

namespace kvserve {

enum class KvCacheMode { kNone, kFull, kPreallocated };

struct GenerationTrace {
  std::vector<int32_t> tokens;   // the generated tokens
  int64_t forward_steps = 0;     // model invocations (prefill counts as one)
  int64_t attention_ops = 0;     // query positions that attended over their prefix
  int64_t attention_scores = 0;  // q·k dot products (per query head)
};

// Greedy generation of `max_new_tokens` tokens after `prompt` (no EOS stop: the lab measures work).
// INVALID_ARGUMENT for an empty prompt, ids outside the vocabulary, or a total past max_context.
absl::StatusOr<GenerationTrace> GenerateGreedy(const ModelWeights& weights,
                                               absl::Span<const int32_t> prompt,
                                               int32_t max_new_tokens, KvCacheMode mode);

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_LAB_CACHED_GENERATION_H_
