// Scheduler: the per-token controls end to end through Submit and Step: penalties, min_tokens,
// logprobs and prompt logprobs (the latter on the real micro model, checked against the
// distribution a one-token request for each prefix sees, and unchanged by preemption).
#include <memory>
#include <set>
#include <vector>

#include "engine/model/model_runner.h"
#include "gtest/gtest.h"
#include "tests/support/fake_engines.h"
#include "tests/support/recording_sink.h"
#include "tests/support/scheduler_harness.h"

namespace kvserve {
namespace {

SchedulerOptions Options(int64_t pages = 256, int32_t budget = 64) {
  return {.page_size = 4,
          .num_pages = pages,
          .max_num_seqs = 8,
          .max_batched_tokens = budget,
          .max_waiting = 100};
}

TEST(SchedulerSamplingTest, AStrongRepetitionPenaltyNeverRepeatsAToken) {
  SchedulerHarness<HistoryHashEngine> h(Options());
  GenerationParams p = TestParams(9, 40, 2);
  auto plain = h.Submit(p);
  p.sampling.repetition_penalty = 100.0f;  // the fake's clear argmax (20) falls under the rest
  auto penalized = h.Submit(p);
  h.RunToIdle();
  std::set<int32_t> seen(p.prompt_ids.begin(), p.prompt_ids.end());
  for (int32_t t : penalized->tokens) EXPECT_TRUE(seen.insert(t).second) << "repeated " << t;
  EXPECT_NE(plain->tokens, penalized->tokens);
}

TEST(SchedulerSamplingTest, MinTokensHoldsBackTheStopIdUntilTheCount) {
  // The engine always prefers 65; 65 is a stop id; min_tokens 4 masks it for the first 4.
  SchedulerHarness<FixedTokenEngine> h(Options());
  GenerationParams p = TestParams(3, 10);
  p.stop_token_ids = {65};
  p.min_tokens = 4;
  auto sink = h.Submit(p);
  h.RunToIdle();
  ASSERT_EQ(sink->tokens.size(), 5u);
  for (int i = 0; i < 4; ++i) EXPECT_NE(sink->tokens[i], 65) << i;
  EXPECT_EQ(sink->tokens[4], 65);
  EXPECT_EQ(sink->finish, FinishReason::kStop);
}

TEST(SchedulerSamplingTest, LogprobsComeWithEveryTokenAndDoNotChangeIt) {
  SchedulerHarness<HistoryHashEngine> h(Options());
  GenerationParams p = TestParams(9, 16, 4);
  p.sampling.temperature = 8.0f;
  p.sampling.seed = 3;
  auto without = h.Submit(p);
  p.logprobs = 5;
  auto with = h.Submit(p);
  h.RunToIdle();
  EXPECT_EQ(with->tokens, without->tokens);
  ASSERT_EQ(with->samples[0].logprobs.size(), 16u);
  EXPECT_TRUE(without->samples[0].logprobs.empty());
  for (size_t i = 0; i < 16; ++i) {
    const TokenLogprobs& lp = with->samples[0].logprobs[i];
    EXPECT_EQ(lp.token, with->tokens[i]);
    EXPECT_EQ(lp.num_top, 5);
    EXPECT_LE(lp.logprob, 0.0f);
    EXPECT_GE(lp.rank, 1);
    EXPECT_GE(lp.top[0].logprob, lp.top[4].logprob);
  }
}

std::unique_ptr<ModelRunner> Micro() {
  auto weights =
      std::make_shared<const ModelWeights>(*MakeSyntheticWeights(*PresetConfig("micro")));
  return *ModelRunner::Create(weights, {.max_batched_tokens = 64, .max_num_seqs = 8});
}

GenerationParams MicroPrompt(int len, int max_tokens) {
  GenerationParams p;
  p.has_prompt = true;
  for (int i = 0; i < len; ++i) p.prompt_ids.push_back(32 + (i * 37) % 90);
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

TEST(SchedulerSamplingTest, PromptLogprobsAreWhatEachPrefixPredicts) {
  // 150 prompt tokens: three all-logits chunks (at most kMaxAllLogitsChunk each).
  SchedulerHarness<ModelRunner> h(Options(512, 64), [](absl::Time*) { return Micro(); });
  GenerationParams p = MicroPrompt(150, 2);
  p.prompt_logprobs = 3;
  auto sink = h.Submit(p);
  h.RunToIdle();
  ASSERT_TRUE(sink->error.ok()) << sink->error;
  ASSERT_EQ(sink->prompt_logprobs.size(), 149u);
  for (int t : {1, 7, 64, 65, 149}) {
    const TokenLogprobs& entry = sink->prompt_logprobs[t - 1];
    EXPECT_EQ(entry.token, p.prompt_ids[t]) << t;
    // A request for the prefix [0, t) sees the same distribution for its first token.
    GenerationParams prefix = MicroPrompt(t, 1);
    prefix.logprobs = 3;
    auto one = h.Submit(prefix);
    h.RunToIdle();
    ASSERT_EQ(one->samples.size(), 1u);
    const TokenLogprobs& next = one->samples[0].logprobs[0];
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(entry.top[k].token, next.top[k].token) << t << " top " << k;
      EXPECT_NEAR(entry.top[k].logprob, next.top[k].logprob, 1e-4) << t << " top " << k;
    }
  }
  const SchedulerStats stats = h.scheduler->stats();
  EXPECT_EQ(stats.free_pages, stats.total_pages);
}

TEST(SchedulerSamplingTest, PromptLogprobsSurvivePreemptionAndSkipThePrefixCache) {
  SchedulerHarness<ModelRunner> roomy(Options(512, 64), [](absl::Time*) { return Micro(); });
  GenerationParams p = MicroPrompt(40, 30);
  p.prompt_logprobs = 2;
  auto alone = roomy.Submit(p);
  roomy.RunToIdle();
  // Again, with the same prompt cached: the cache must not be used (it would leave no logits).
  auto cached = roomy.Submit(p);
  roomy.RunToIdle();
  EXPECT_EQ(cached->usage.cached_prompt_tokens, 0);
  ASSERT_EQ(cached->prompt_logprobs.size(), 39u);
  // A pool too small for two such requests at once: one is preempted and recomputed.
  SchedulerHarness<ModelRunner> tight(Options(/*pages=*/20, 16),
                                      [](absl::Time*) { return Micro(); });
  auto a = tight.Submit(p);
  auto b = tight.Submit(p);
  tight.RunToIdle();
  EXPECT_GT(tight.scheduler->stats().preemptions, 0);
  for (const auto& sink : {cached, a, b}) {
    ASSERT_EQ(sink->prompt_logprobs.size(), 39u);
    EXPECT_EQ(sink->tokens, alone->tokens);
    for (size_t t = 0; t < 39; ++t) {
      EXPECT_EQ(sink->prompt_logprobs[t].top[0].token, alone->prompt_logprobs[t].top[0].token);
      EXPECT_NEAR(sink->prompt_logprobs[t].logprob, alone->prompt_logprobs[t].logprob, 1e-4);
    }
  }
}

}  // namespace
}  // namespace kvserve
