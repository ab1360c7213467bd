// Scheduler: n samples of one prompt (forked pages, own seed streams) and stop strings, on the
// fake engine whose tokens depend on each sequence's whole history read back from its pages (a
// wrong page shared by a fork, or a wrong recomputation after preemption, changes the output).
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/tokenizer/byte_tokenizer.h"
#include "gtest/gtest.h"
#include "tests/support/fake_engines.h"
#include "tests/support/recording_sink.h"
#include "tests/support/scheduler_harness.h"

namespace kvserve {
namespace {

using Harness = SchedulerHarness<HistoryHashEngine>;

SchedulerOptions Options(int64_t pages = 256, int32_t seqs = 8, int32_t budget = 64) {
  SchedulerOptions options{.page_size = 4,
                           .num_pages = pages,
                           .max_num_seqs = seqs,
                           .max_batched_tokens = budget,
                           .max_waiting = 100};
  options.tokenizer = std::make_shared<const ByteTokenizer>();
  return options;
}

GenerationParams Sampled(int n, uint64_t seed, int max_tokens = 10) {
  GenerationParams p = TestParams(9, max_tokens, /*salt=*/3);
  p.n = n;
  p.sampling.temperature = 8.0f;  // the fake's logits are 0..7 plus one 20: spread it out
  p.sampling.seed = seed;
  return p;
}

std::vector<std::vector<int32_t>> Outputs(const RecordingSink& sink) {
  std::vector<std::vector<int32_t>> out;
  for (const RecordedSample& s : sink.samples) out.push_back(s.tokens);
  return out;
}

TEST(SchedulerSamplesTest, NSamplesForkThePromptOnceAndEndWithOneUsage) {
  Harness h(Options());
  auto sink = h.Submit(Sampled(4, 11));
  h.RunToIdle();
  ASSERT_EQ(sink->terminal_calls, 1);
  ASSERT_TRUE(sink->error.ok()) << sink->error;
  ASSERT_EQ(sink->samples.size(), 4u);
  std::set<std::vector<int32_t>> distinct;
  for (const RecordedSample& s : sink->samples) {
    EXPECT_EQ(s.tokens.size(), 10u);
    EXPECT_EQ(s.finish, FinishReason::kLength);
    distinct.insert(s.tokens);
  }
  EXPECT_GE(distinct.size(), 3u);
  EXPECT_EQ(sink->usage.prompt_tokens, 9);
  EXPECT_EQ(sink->usage.completion_tokens, 40);
  // The prompt ran once: one 9-token chunk, then only decodes.
  int32_t prefill_tokens = 0;
  for (const auto& step : h.engine->steps) {
    for (const SequenceChunk& c : step.chunks) prefill_tokens += c.num_new_tokens > 1 ? 9 : 0;
  }
  EXPECT_EQ(prefill_tokens, 9);
  const SchedulerStats stats = h.scheduler->stats();
  EXPECT_EQ(stats.free_pages, stats.total_pages);
  EXPECT_EQ(stats.shared_pages, 0);
  EXPECT_EQ(stats.requests_finished, 1);
  EXPECT_EQ(stats.generated_tokens, 40);
}

TEST(SchedulerSamplesTest, SameSeedSameSamplesWhateverTheBatchAndPreemption) {
  Harness roomy(Options());
  auto a = roomy.Submit(Sampled(5, 99, 24));
  roomy.RunToIdle();
  // A pool of 12 pages of 4 for 5 samples of 9 + 24 tokens: samples are preempted and recomputed
  // (their pages rebuilt from prompt + output), and only 3 run per step.
  Harness tight(Options(/*pages=*/12, /*seqs=*/3, /*budget=*/16));
  auto b = tight.Submit(Sampled(5, 99, 24));
  auto other = tight.Submit(TestParams(7, 20, 5));  // competing for the same pages
  tight.RunToIdle();
  ASSERT_TRUE(a->error.ok() && b->error.ok()) << b->error;
  EXPECT_GT(tight.scheduler->stats().preemptions, 0);
  EXPECT_EQ(Outputs(*a), Outputs(*b));
  EXPECT_EQ(other->tokens.size(), 20u);
  // Sample 0 is the n = 1 request with that seed.
  Harness single(Options());
  auto one = single.Submit(Sampled(1, 99, 24));
  single.RunToIdle();
  EXPECT_EQ(one->tokens, a->samples[0].tokens);
  const SchedulerStats stats = tight.scheduler->stats();
  EXPECT_EQ(stats.free_pages, stats.total_pages);
}

TEST(SchedulerSamplesTest, GreedySamplesAreIdenticalToOneGreedyRun) {
  Harness h(Options());
  GenerationParams p = TestParams(6, 12);
  auto single = h.Submit(p);
  p.n = 3;
  auto three = h.Submit(p);
  h.RunToIdle();
  ASSERT_EQ(three->samples.size(), 3u);
  for (const RecordedSample& s : three->samples) EXPECT_EQ(s.tokens, single->tokens);
}

TEST(SchedulerSamplesTest, CancelEndsEverySampleOnceAndFreesEveryPage) {
  Harness h(Options());
  auto sink = h.Submit(Sampled(4, 5, 50));
  for (int i = 0; i < 4; ++i) h.scheduler->Step();  // prompt, fork, a few decodes
  EXPECT_GT(h.scheduler->stats().shared_pages, 0);
  EXPECT_EQ(h.scheduler->stats().running, 4);
  h.handles.back()->Cancel();
  h.RunToIdle();
  EXPECT_EQ(sink->terminal_calls, 1);
  EXPECT_EQ(sink->error.code(), absl::StatusCode::kCancelled);
  const SchedulerStats stats = h.scheduler->stats();
  EXPECT_EQ(stats.free_pages, stats.total_pages);
  EXPECT_EQ(stats.shared_pages, 0);
  EXPECT_EQ(stats.running, 0);
}

TEST(SchedulerSamplesTest, ADeadlineEndsEverySample) {
  Harness h(Options());
  auto sink = h.Submit(Sampled(3, 5, 50), h.now + absl::Seconds(1));
  for (int i = 0; i < 3; ++i) h.scheduler->Step();
  h.now += absl::Seconds(2);
  h.RunToIdle();
  EXPECT_EQ(sink->terminal_calls, 1);
  EXPECT_EQ(sink->error.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(h.scheduler->stats().free_pages, h.scheduler->stats().total_pages);
}

TEST(SchedulerSamplesTest, EachSampleStopsOnItsOwnStopString) {
  // Learn each sample's free-running text, then stop each at a string only it contains.
  Harness free(Options());
  auto run = free.Submit(Sampled(2, 17, 30));
  free.RunToIdle();
  ASSERT_EQ(run->samples.size(), 2u);
  const std::string& t0 = run->samples[0].text;
  const std::string& t1 = run->samples[1].text;
  ASSERT_FALSE(t0.empty());
  // Sample 1's stop: a 2-byte piece of it that sample 0 lacks; none found is a test failure.
  std::string stop;
  for (size_t i = 2; i + 2 <= t1.size() && stop.empty(); ++i) {
    if (t0.find(t1.substr(i, 2)) == std::string::npos) stop = t1.substr(i, 2);
  }
  ASSERT_FALSE(stop.empty());
  GenerationParams p = Sampled(2, 17, 30);
  p.stop_strings = {stop};
  Harness h(Options());
  auto sink = h.Submit(p);
  h.RunToIdle();
  ASSERT_TRUE(sink->error.ok());
  EXPECT_EQ(sink->samples[0].text, t0);
  EXPECT_EQ(sink->samples[0].finish, FinishReason::kLength);
  EXPECT_EQ(sink->samples[1].text, t1.substr(0, t1.find(stop)));
  EXPECT_EQ(sink->samples[1].finish, FinishReason::kStop);
  EXPECT_EQ(sink->samples[1].stop_string, 0);
  EXPECT_EQ(sink->usage.completion_tokens,
            30 + static_cast<int32_t>(sink->samples[1].tokens.size()));
}

TEST(SchedulerSamplesTest, StopStringsNeedATokenizer) {
  SchedulerOptions options = Options();
  options.tokenizer = nullptr;
  Harness h(options);
  GenerationParams p = TestParams(4, 4);
  p.stop_strings = {"x"};
  auto refused = h.scheduler->Submit(p, std::make_shared<RecordingSink>());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kvserve
