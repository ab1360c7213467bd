// StepPlanner: the first of the scheduler step's three phases (plan → execute → update): which
// requests run in the next engine step, with which chunk of tokens, and who is preempted or
// admitted to make it so. A StepPlan is a value; planning needs a BatchingKvCache (it claims the
// chunks' slots) but no engine, so it is tested on its own (tests/engine/step_planner_test.cc).
//
// The rule (continuous batching with chunked prefill, as vLLM's and nano-vllm's schedulers):
//   1. Every running request, oldest first, gets its next chunk: all its pending tokens (one for a
//      decode, the rest of its prompt for a prefill) up to the step's remaining token budget, and
//      at most max_num_seqs of them (forked samples can make more run than one batch holds).
//      When the cache has no free page for it, the most recently admitted running request is
//      preempted (its pages are freed, it goes back to the front of the queue with nothing
//      computed, to be recomputed later) until the chunk fits or the request itself was the one
//      preempted.
//   2. Then, while the AdmissionPolicy allows, waiting requests are admitted in queue order while
//      the budget, max_num_seqs and free pages allow: an admitted request first shares the cached
//      pages that match the start of its tokens (BatchingKvCache::MatchPrefix), and is admitted
//      only if its whole remaining prefill fits in the free pages (so chunked prefill does not
//      thrash); its first chunk is claimed like a running request's.
//
// Threads: the scheduler thread only, like the cache and the sequences it plans.
#ifndef KVSERVE_ENGINE_SCHED_STEP_PLANNER_H_
#define KVSERVE_ENGINE_SCHED_STEP_PLANNER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "engine/cache/attention_batch.h"
#include "engine/cache/batching_kv_cache.h"

namespace kvserve {

// One request's progress through generation, as planning sees it. The scheduler's own request
// state derives from it.
struct Sequence {
  virtual ~Sequence() = default;

  RequestId id = 0;
  std::vector<int32_t> tokens;  // the prompt, then every generated token
  int32_t prompt_len = 0;
  int32_t num_computed = 0;  // leading tokens whose K/V are in the cache
  int32_t chunk = 0;         // tokens planned for the current step
  // Chunks that start before this position want every position's logits (all_logits: for prompt
  // logprobs), are at most kMaxAllLogitsChunk tokens, and the sequence skips the prefix cache
  // (cached positions have no logits). 0: none.
  int32_t all_logits_until = 0;

  int32_t num_generated() const { return static_cast<int32_t>(tokens.size()) - prompt_len; }
  int32_t pending() const { return static_cast<int32_t>(tokens.size()) - num_computed; }
};

// Longest all_logits chunk: the engine's logits for one are chunk × vocab floats.
inline constexpr int32_t kMaxAllLogitsChunk = 64;

using RunningQueue = std::vector<std::unique_ptr<Sequence>>;  // in admission order
using WaitingQueue = std::deque<std::unique_ptr<Sequence>>;   // in queue order

// What one engine step does.
struct StepPlan {
  std::vector<SequenceChunk> chunks;  // the batch, in order (running first, then admitted)
  std::vector<Sequence*> sequences;   // chunks[i]'s sequence
  std::vector<Sequence*> preempted;   // sent back to the queue this step, in order
  std::vector<Sequence*> admitted;    // joined the batch from the queue this step, in order
  int32_t num_prefill_tokens = 0;
  int32_t num_decode_tokens = 0;

  bool empty() const { return chunks.empty(); }
  void Clear();
};

// Whether waiting requests may join a step. Continuous batching (the default, what serves)
// always lets them; a static-batching policy for comparisons plugs in here.
class AdmissionPolicy {
 public:
  virtual ~AdmissionPolicy() = default;
  // Before admission, with `num_running` requests already planned.
  virtual bool MayAdmit(int32_t num_running) = 0;
  // After admission: `budget_left` tokens of the step unused, `num_waiting` still queued.
  virtual void AfterAdmission(int32_t /*budget_left*/, int32_t /*num_waiting*/,
                              int32_t /*num_running*/) {}
};

class StepPlanner {
 public:
  // `policy` may be null (continuous batching).
  StepPlanner(int32_t max_num_seqs, int32_t max_batched_tokens,
              std::shared_ptr<AdmissionPolicy> policy = nullptr);

  // Plans the next step into `*plan` (cleared first), moving preempted sequences from `running`
  // to the front of `waiting` and admitted ones from `waiting` to the back of `running`; sets
  // each planned sequence's chunk and claims its slots in `cache` (Extend); a preempted one is
  // removed from `cache` with num_computed and chunk 0; an admitted one is added to `cache` with
  // num_computed set to its matched prefix. Every running sequence must be live and in `cache`.
  void Plan(RunningQueue& running, WaitingQueue& waiting, BatchingKvCache& cache, StepPlan* plan);

 private:
  bool ClaimChunk(Sequence& sequence, int32_t tokens, BatchingKvCache& cache, StepPlan* plan);
  // The next chunk's length within `budget`: all pending tokens, or kMaxAllLogitsChunk at most.
  static int32_t ChunkLength(const Sequence& sequence, int32_t budget);

  const int32_t max_num_seqs_;
  const int32_t max_batched_tokens_;
  const std::shared_ptr<AdmissionPolicy> policy_;
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_STEP_PLANNER_H_
