// Prefix caching end to end with the real micro model: the same requests give the same tokens
// with and without prefix caching (and with preemptions), later requests report cached prompt
// tokens, and the pool is whole afterwards.
#include <memory>
#include <vector>

#include "engine/model/model_runner.h"
#include "engine/sched/scheduler.h"
#include "gtest/gtest.h"
#include "tests/support/recording_sink.h"

namespace kvserve {
namespace {

struct WorkloadRun {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<int32_t> cached;
  SchedulerStats stats;
};

// 12 requests over three system prompts (lengths 16, 21, 13 with page size 4), each with its own
// short question; request 5 repeats request 1 exactly and request 9 is a system prompt alone.
// Submitted in waves, so later waves find earlier pages cached.
WorkloadRun RunWorkload(bool prefix_caching, int64_t pages) {
  auto weights =
      std::make_shared<const ModelWeights>(*MakeSyntheticWeights(*PresetConfig("micro")));
  auto runner = *ModelRunner::Create(weights, {.max_batched_tokens = 32, .max_num_seqs = 4});
  SchedulerOptions options{.page_size = 4,
                           .num_pages = pages,
                           .max_num_seqs = 4,
                           .max_batched_tokens = 32,
                           .max_waiting = 100,
                           .enable_prefix_caching = prefix_caching};
  auto scheduler = *Scheduler::Create(std::move(runner), options);
  const std::vector<int> system_lengths = {16, 21, 13};
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 12; ++i) {
    GenerationParams p;
    p.has_prompt = true;
    const int system = i == 5 ? 1 : i % 3;
    for (int t = 0; t < system_lengths[system]; ++t)
      p.prompt_ids.push_back(32 + (t * 7 + system * 11) % 90);
    const int question = i == 5 ? 1 : i;
    if (i != 9) {
      for (int t = 0; t < 3 + question % 4; ++t)
        p.prompt_ids.push_back(40 + (question * 5 + t) % 50);
    }
    p.max_tokens = 10;
    p.ignore_eos = true;
    if (i % 2 == 1) p.sampling = {.temperature = 0.9f, .top_k = 20, .top_p = 0.95f, .seed = 7u + i};
    auto sink = std::make_shared<RecordingSink>();
    EXPECT_TRUE(scheduler->Submit(p, sink).ok());
    sinks.push_back(sink);
    if (i % 4 == 3) {
      for (int s = 0; s < 10000 && scheduler->Step(); ++s) {
      }
    }
  }
  WorkloadRun run;
  for (auto& s : sinks) {
    EXPECT_EQ(s->terminal_calls, 1);
    EXPECT_TRUE(s->error.ok()) << s->error;
    run.tokens.push_back(s->tokens);
    run.cached.push_back(s->usage.cached_prompt_tokens);
  }
  run.stats = scheduler->stats();
  return run;
}

TEST(SchedulerPrefixCacheTest, OutputsAreIdenticalWithAndWithoutPrefixCaching) {
  const WorkloadRun off = RunWorkload(false, 256);
  const WorkloadRun on = RunWorkload(true, 256);
  const WorkloadRun tight =
      RunWorkload(true, /*pages=*/18);  // cached pages evicted, requests preempted
  EXPECT_EQ(on.tokens, off.tokens);
  EXPECT_EQ(tight.tokens, off.tokens);
  for (const auto& t : on.tokens) EXPECT_EQ(t.size(), 10u);

  EXPECT_EQ(off.stats.cached_prompt_tokens, 0);
  for (int32_t c : off.cached) EXPECT_EQ(c, 0);
  // Later waves find the whole system-prompt pages of earlier ones.
  EXPECT_EQ(on.cached[4], 20) << "system prompt 1 (21 tokens): 5 full pages";
  EXPECT_EQ(on.cached[5], 24) << "request 1 again (25 tokens): 6 full pages";
  EXPECT_EQ(on.cached[9], 15) << "system prompt 0 alone (16 tokens): all cached but the last";
  EXPECT_GT(on.stats.cached_prompt_tokens, 100);
  EXPECT_GT(tight.stats.preemptions, 0) << "the tight run must exercise preemption";

  for (const WorkloadRun* r : {&on, &off, &tight}) {
    EXPECT_EQ(r->stats.free_pages, r->stats.total_pages);
    EXPECT_EQ(r->stats.running + r->stats.waiting, 0);
  }
  EXPECT_GT(on.stats.cached_pages, 0);
}

}  // namespace
}  // namespace kvserve
