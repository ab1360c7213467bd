// StepPlanner alone: plans against a real BatchingKvCache (tiny pages), with no engine and no
// scheduler. Every expectation is worked out from the planning rule in step_planner.h.
#include "engine/sched/step_planner.h"

#include <memory>
#include <vector>

#include "engine/cache/batching_kv_cache.h"
#include "engine/cache/page_pool.h"
#include "gtest/gtest.h"
#include "tests/bench/static_batch_admission.h"

namespace kvserve {
namespace {

constexpr int32_t kPageSize = 4;

std::unique_ptr<BatchingKvCache> Cache(int64_t pages, bool prefix_caching = false) {
  const PageGeometry geometry{
      .page_size = kPageSize, .num_layers = 1, .num_kv_heads = 1, .head_dim = 4};
  return std::make_unique<BatchingKvCache>(*PagePool::Create(geometry, pages), prefix_caching);
}

std::unique_ptr<Sequence> Seq(RequestId id, int32_t prompt_len) {
  auto s = std::make_unique<Sequence>();
  s->id = id;
  for (int32_t i = 0; i < prompt_len; ++i) s->tokens.push_back(static_cast<int32_t>(id * 100 + i));
  s->prompt_len = prompt_len;
  return s;
}

// What a step's update phase does to a planned sequence: its chunk is computed; a sequence whose
// prompt is done gets one more token.
void Complete(const StepPlan& plan) {
  for (Sequence* s : plan.sequences) {
    s->num_computed += s->chunk;
    s->chunk = 0;
    if (s->pending() == 0) s->tokens.push_back(7);
  }
}

std::vector<RequestId> Ids(const std::vector<Sequence*>& sequences) {
  std::vector<RequestId> ids;
  for (const Sequence* s : sequences) ids.push_back(s->id);
  return ids;
}

TEST(StepPlannerTest, ChunkedPrefillWithinTheTokenBudgetThenDecodes) {
  auto cache = Cache(64);
  StepPlanner planner(/*max_num_seqs=*/4, /*max_batched_tokens=*/8);
  RunningQueue running;
  WaitingQueue waiting;
  waiting.push_back(Seq(1, 10));
  waiting.push_back(Seq(2, 3));
  StepPlan plan;

  // Step 1: request 1 takes the whole budget (8 of its 10 prompt tokens); 2 waits (budget 0).
  planner.Plan(running, waiting, *cache, &plan);
  ASSERT_EQ(plan.chunks.size(), 1u);
  EXPECT_EQ(plan.chunks[0].id, 1);
  EXPECT_EQ(plan.chunks[0].num_new_tokens, 8);
  EXPECT_EQ(Ids(plan.admitted), (std::vector<RequestId>{1}));
  EXPECT_EQ(plan.num_prefill_tokens, 8);
  EXPECT_EQ(plan.num_decode_tokens, 0);
  EXPECT_EQ(waiting.size(), 1u);
  Complete(plan);

  // Step 2: the last 2 prompt tokens of 1, then 2's whole prompt (3) fits in the 6 left.
  planner.Plan(running, waiting, *cache, &plan);
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(plan.chunks[0].num_new_tokens, 2);
  EXPECT_EQ(plan.chunks[1].id, 2);
  EXPECT_EQ(plan.chunks[1].num_new_tokens, 3);
  EXPECT_EQ(plan.num_prefill_tokens, 5);
  EXPECT_TRUE(waiting.empty());
  Complete(plan);

  // Step 3: both decode one token.
  planner.Plan(running, waiting, *cache, &plan);
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(plan.num_decode_tokens, 2);
  EXPECT_EQ(plan.num_prefill_tokens, 0);
  EXPECT_TRUE(plan.admitted.empty());
  EXPECT_EQ(cache->Length(1), 11);  // 10 prompt tokens + the slot of the decode just planned
}

TEST(StepPlannerTest, MaxNumSeqsBoundsAdmission) {
  auto cache = Cache(64);
  StepPlanner planner(/*max_num_seqs=*/2, /*max_batched_tokens=*/64);
  RunningQueue running;
  WaitingQueue waiting;
  for (RequestId id = 1; id <= 3; ++id) waiting.push_back(Seq(id, 2));
  StepPlan plan;
  planner.Plan(running, waiting, *cache, &plan);
  EXPECT_EQ(Ids(plan.admitted), (std::vector<RequestId>{1, 2}));
  EXPECT_EQ(running.size(), 2u);
  EXPECT_EQ(waiting.front()->id, 3);
}

TEST(StepPlannerTest, AdmitsOnlyWhenTheWholePrefillFitsInFreePages) {
  auto cache = Cache(/*pages=*/3);  // 12 slots
  StepPlanner planner(4, /*max_batched_tokens=*/4);
  RunningQueue running;
  WaitingQueue waiting;
  waiting.push_back(Seq(1, 13));  // needs 4 pages: never admitted while only 3 exist
  waiting.push_back(Seq(2, 2));   // behind it in the queue: FIFO, so it waits too
  StepPlan plan;
  planner.Plan(running, waiting, *cache, &plan);
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(waiting.size(), 2u);
  EXPECT_FALSE(cache->Contains(1));  // the failed admission left nothing behind
  EXPECT_EQ(cache->pool().free_pages(), 3);
}

TEST(StepPlannerTest, PreemptsTheNewestRunningRequestWhenPagesRunOut) {
  auto cache = Cache(/*pages=*/2);  // 8 slots
  StepPlanner planner(4, /*max_batched_tokens=*/16);
  RunningQueue running;
  WaitingQueue waiting;
  waiting.push_back(Seq(1, 4));
  waiting.push_back(Seq(2, 4));
  StepPlan plan;
  planner.Plan(running, waiting, *cache, &plan);  // both prefill: one full page each
  ASSERT_EQ(Ids(plan.admitted), (std::vector<RequestId>{1, 2}));
  Complete(plan);
  EXPECT_EQ(cache->pool().free_pages(), 0);

  // Step 2: 1's decode needs a new page; none is free, so 2 (the newest) is preempted, and 1
  // decodes in the page 2 gave back. 2 is at the front of the queue with nothing computed and
  // cannot be readmitted this step (no page for its 5 tokens).
  planner.Plan(running, waiting, *cache, &plan);
  EXPECT_EQ(Ids(plan.preempted), (std::vector<RequestId>{2}));
  ASSERT_EQ(plan.chunks.size(), 1u);
  EXPECT_EQ(plan.chunks[0].id, 1);
  EXPECT_EQ(plan.num_decode_tokens, 1);
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(waiting.front()->id, 2);
  EXPECT_EQ(waiting.front()->num_computed, 0);
  EXPECT_EQ(waiting.front()->pending(), 5);  // its prompt and its token, to recompute
  EXPECT_FALSE(cache->Contains(2));
  EXPECT_EQ(running.size(), 1u);
}

TEST(StepPlannerTest, ARequestThatCannotFitPreemptsItself) {
  auto cache = Cache(/*pages=*/1);
  StepPlanner planner(4, /*max_batched_tokens=*/16);
  RunningQueue running;
  WaitingQueue waiting;
  waiting.push_back(Seq(1, 4));
  StepPlan plan;
  planner.Plan(running, waiting, *cache, &plan);
  Complete(plan);  // its page is full and it has one token to decode: no page for it
  planner.Plan(running, waiting, *cache, &plan);
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(Ids(plan.preempted), (std::vector<RequestId>{1}));
  EXPECT_TRUE(running.empty());
  EXPECT_EQ(cache->pool().free_pages(), 1);
}

TEST(StepPlannerTest, AdmissionSharesAMatchingCachedPrefix) {
  auto cache = Cache(16, /*prefix_caching=*/true);
  StepPlanner planner(4, /*max_batched_tokens=*/64);
  RunningQueue running;
  WaitingQueue waiting;
  waiting.push_back(Seq(1, 9));
  StepPlan plan;
  planner.Plan(running, waiting, *cache, &plan);
  Complete(plan);
  Sequence& first = *running[0];
  ASSERT_TRUE(cache->CommitTokens(first.id, absl::MakeConstSpan(first.tokens).first(9)).ok());
  auto second = Seq(2, 9);
  second->tokens = std::vector<int32_t>(first.tokens.begin(), first.tokens.begin() + 9);
  waiting.push_back(std::move(second));
  planner.Plan(running, waiting, *cache, &plan);
  ASSERT_EQ(Ids(plan.admitted), (std::vector<RequestId>{2}));
  EXPECT_EQ(plan.admitted[0]->num_computed, 8);  // two full pages matched
  ASSERT_EQ(plan.chunks.size(), 2u);
  EXPECT_EQ(plan.chunks[1].num_new_tokens, 1);  // only the 9th token is computed
}

TEST(StepPlannerTest, StaticBatchAdmissionWaitsForTheBatchToDrain) {
  auto cache = Cache(64);
  StepPlanner planner(/*max_num_seqs=*/2, 64, std::make_shared<StaticBatchAdmission>(2));
  RunningQueue running;
  WaitingQueue waiting;
  for (RequestId id = 1; id <= 3; ++id) waiting.push_back(Seq(id, 2));
  StepPlan plan;
  planner.Plan(running, waiting, *cache, &plan);
  EXPECT_EQ(Ids(plan.admitted), (std::vector<RequestId>{1, 2}));
  Complete(plan);
  running.pop_back();  // request 2 finished; 1 still runs, so 3 must not join
  (void)cache->RemoveRequest(2);
  planner.Plan(running, waiting, *cache, &plan);
  EXPECT_TRUE(plan.admitted.empty());
  EXPECT_EQ(plan.chunks.size(), 1u);
  running.clear();  // the batch drained
  (void)cache->RemoveRequest(1);
  planner.Plan(running, waiting, *cache, &plan);
  EXPECT_EQ(Ids(plan.admitted), (std::vector<RequestId>{3}));
}

}  // namespace
}  // namespace kvserve
