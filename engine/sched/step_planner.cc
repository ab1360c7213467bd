#include "engine/sched/step_planner.h"

#include <algorithm>
#include <utility>

namespace kvserve {

void StepPlan::Clear() {
  chunks.clear();
  sequences.clear();
  preempted.clear();
  admitted.clear();
  num_prefill_tokens = 0;
  num_decode_tokens = 0;
}

StepPlanner::StepPlanner(int32_t max_num_seqs, int32_t max_batched_tokens,
                         std::shared_ptr<AdmissionPolicy> policy)
    : max_num_seqs_(max_num_seqs),
      max_batched_tokens_(max_batched_tokens),
      policy_(std::move(policy)) {}

int32_t StepPlanner::ChunkLength(const Sequence& sequence, int32_t budget) {
  const int32_t n = std::min(sequence.pending(), budget);
  return sequence.num_computed < sequence.all_logits_until ? std::min(n, kMaxAllLogitsChunk) : n;
}

bool StepPlanner::ClaimChunk(Sequence& sequence, int32_t tokens, BatchingKvCache& cache,
                             StepPlan* plan) {
  if (!cache.Extend(sequence.id, tokens).ok()) return false;
  sequence.chunk = tokens;
  plan->chunks.push_back(
      SequenceChunk{.id = sequence.id,
                    .num_new_tokens = tokens,
                    .all_logits = sequence.num_computed < sequence.all_logits_until});
  plan->sequences.push_back(&sequence);
  if (tokens == 1 && sequence.num_computed >= sequence.prompt_len) {
    ++plan->num_decode_tokens;
  } else {
    plan->num_prefill_tokens += tokens;
  }
  return true;
}

void StepPlanner::Plan(RunningQueue& running, WaitingQueue& waiting, BatchingKvCache& cache,
                       StepPlan* plan) {
  plan->Clear();
  int32_t budget = max_batched_tokens_;
  const auto preempt_newest = [&] {
    Sequence& victim = *running.back();
    (void)cache.RemoveRequest(victim.id);
    victim.num_computed = 0;
    victim.chunk = 0;
    plan->preempted.push_back(&victim);
    waiting.push_front(std::move(running.back()));
    running.pop_back();
  };
  // 1. Running requests, oldest first; the newest are the ones preempted to make room.
  // More may run than fit one batch (forked samples join at once): the oldest max_num_seqs do.
  for (size_t i = 0; i < running.size() && budget > 0 &&
                     static_cast<int32_t>(plan->chunks.size()) < max_num_seqs_;
       ++i) {
    Sequence& s = *running[i];
    const int32_t n = ChunkLength(s, budget);
    bool claimed = ClaimChunk(s, n, cache, plan);
    while (!claimed) {
      const bool self = running.back().get() == &s;
      preempt_newest();
      if (self) break;
      claimed = ClaimChunk(s, n, cache, plan);
    }
    if (claimed) budget -= n;
  }
  // 2. Waiting requests, in queue order, while there is room.
  const bool may_admit =
      policy_ == nullptr || policy_->MayAdmit(static_cast<int32_t>(running.size()));
  while (may_admit && !waiting.empty() && budget > 0 &&
         static_cast<int32_t>(running.size()) < max_num_seqs_) {
    Sequence& s = *waiting.front();
    if (!cache.AddRequest(s.id).ok()) break;
    const absl::StatusOr<int32_t> cached =
        s.all_logits_until > 0 ? absl::StatusOr<int32_t>(0) : cache.MatchPrefix(s.id, s.tokens);
    s.num_computed = cached.ok() ? *cached : 0;
    const absl::StatusOr<int64_t> needed = cache.PagesNeeded(s.id, s.pending());
    const int32_t n = ChunkLength(s, budget);
    if (!cached.ok() || !needed.ok() || *needed > cache.pool().free_pages() ||
        !ClaimChunk(s, n, cache, plan)) {
      (void)cache.RemoveRequest(s.id);
      s.num_computed = 0;
      break;
    }
    budget -= n;
    plan->admitted.push_back(&s);
    running.push_back(std::move(waiting.front()));
    waiting.pop_front();
  }
  if (policy_ != nullptr) {
    policy_->AfterAdmission(budget, static_cast<int32_t>(waiting.size()),
                            static_cast<int32_t>(running.size()));
  }
}

}  // namespace kvserve
