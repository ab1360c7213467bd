// The scheduler's observer hooks, with a fake engine whose every step takes exactly 10 ms of a fake
// clock, so latencies are exact: what each hook reports, when, and that the per-step figures add
// up to the scheduler's own stats.
#include "engine/sched/scheduler_observer.h"

#include <memory>
#include <vector>

#include "engine/sched/scheduler.h"
#include "gtest/gtest.h"
#include "tests/support/fake_engines.h"
#include "tests/support/recording_sink.h"
#include "tests/support/scheduler_harness.h"

namespace kvserve {
namespace {

constexpr absl::Duration kStepTime = absl::Milliseconds(10);

class RecordingObserver : public SchedulerObserver {
 public:
  void OnStep(const StepStats& step) override { steps.push_back(step); }
  void OnPreemption() override { ++preemptions; }
  void OnRequestAdmitted(absl::Duration queue_time) override { queue_times.push_back(queue_time); }
  void OnFirstToken(absl::Duration ttft) override { ttfts.push_back(ttft); }
  void OnRequestEnded(const RequestEndStats& request) override { ends.push_back(request); }

  std::vector<StepStats> steps;
  int preemptions = 0;
  std::vector<absl::Duration> queue_times;
  std::vector<absl::Duration> ttfts;
  std::vector<RequestEndStats> ends;
};

GenerationParams Params(int prompt_len, int max_tokens) {
  GenerationParams p = TestParams(prompt_len, max_tokens);
  p.ignore_eos = true;
  return p;
}

SchedulerOptions ObservedOptions(std::shared_ptr<SchedulerObserver> observer, int64_t pages,
                                 int32_t budget, int32_t seqs, bool prefix_caching) {
  SchedulerOptions options{.page_size = 4,
                           .num_pages = pages,
                           .max_num_seqs = seqs,
                           .max_batched_tokens = budget,
                           .max_waiting = 100,
                           .enable_prefix_caching = prefix_caching};
  options.observer = std::move(observer);
  return options;
}

// Every step takes exactly kStepTime of the fake clock.
struct Fixture : SchedulerHarness<FixedTokenEngine> {
  explicit Fixture(
      int64_t pages = 256, int32_t budget = 64, int32_t seqs = 8, bool prefix_caching = true,
      std::shared_ptr<RecordingObserver> recorder = std::make_shared<RecordingObserver>())
      : SchedulerHarness(
            ObservedOptions(recorder, pages, budget, seqs, prefix_caching),
            [](absl::Time* now) { return std::make_unique<FixedTokenEngine>(now, kStepTime); }),
        observer(std::move(recorder)) {}

  std::shared_ptr<RecordingObserver> observer;
};

TEST(SchedulerObserverTest, LatenciesOfOneRequestAreExact) {
  Fixture f;
  f.Submit(Params(5, 4));
  f.now += absl::Milliseconds(3);  // queued for 3 ms before the first step
  f.RunToIdle();
  ASSERT_EQ(f.observer->queue_times.size(), 1u);
  EXPECT_EQ(f.observer->queue_times[0], absl::Milliseconds(3));
  ASSERT_EQ(f.observer->ttfts.size(), 1u);
  EXPECT_EQ(f.observer->ttfts[0], absl::Milliseconds(13));  // queue + the prefill step
  ASSERT_EQ(f.observer->ends.size(), 1u);
  const RequestEndStats& end = f.observer->ends[0];
  EXPECT_EQ(end.code, absl::StatusCode::kOk);
  EXPECT_EQ(end.finish_reason, FinishReason::kLength);
  EXPECT_EQ(end.prompt_tokens, 5);
  EXPECT_EQ(end.completion_tokens, 4);
  EXPECT_EQ(end.e2e_latency, absl::Milliseconds(3) + 4 * kStepTime);
  ASSERT_TRUE(end.time_per_output_token.has_value());
  EXPECT_EQ(*end.time_per_output_token, kStepTime);

  // Four steps ran a batch: one prefill of 5 tokens, then three one-token decodes.
  std::vector<StepStats> batches;
  for (const StepStats& s : f.observer->steps) {
    if (s.num_seqs > 0) batches.push_back(s);
  }
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[0].num_prefill_tokens, 5);
  EXPECT_EQ(batches[0].num_decode_tokens, 0);
  EXPECT_EQ(batches[0].num_prompt_tokens, 5);
  EXPECT_EQ(batches[0].duration, kStepTime);
  for (size_t i = 1; i < batches.size(); ++i) {
    EXPECT_EQ(batches[i].num_prefill_tokens, 0);
    EXPECT_EQ(batches[i].num_decode_tokens, 1);
    EXPECT_EQ(batches[i].num_prompt_tokens, 0);
  }
  for (const StepStats& s : batches) EXPECT_EQ(s.num_generated_tokens, 1);
  // The last step reports the state after it: nothing left, every page free.
  const StepStats& last = f.observer->steps.back();
  EXPECT_EQ(last.running, 0);
  EXPECT_EQ(last.waiting, 0);
  EXPECT_EQ(last.free_pages, 256);
  EXPECT_EQ(last.total_pages, 256);
}

TEST(SchedulerObserverTest, OneTokenRequestHasNoTimePerOutputToken) {
  Fixture f;
  f.Submit(Params(3, 1));
  f.RunToIdle();
  ASSERT_EQ(f.observer->ends.size(), 1u);
  EXPECT_EQ(f.observer->ends[0].completion_tokens, 1);
  EXPECT_FALSE(f.observer->ends[0].time_per_output_token.has_value());
  EXPECT_EQ(f.observer->ttfts.size(), 1u);
}

TEST(SchedulerObserverTest, StepFiguresAddUpToSchedulerStatsUnderPreemption) {
  // 6 requests of 6 + 14 tokens = 5 pages each; 12 pages hold two at the end: preemptions.
  // Prefix caching off, so that every preemption is recomputed from scratch.
  Fixture f(/*pages=*/12, /*budget=*/16, /*seqs=*/8, /*prefix_caching=*/false);
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 6; ++i) sinks.push_back(f.Submit(Params(6, 14)));
  f.RunToIdle();
  const SchedulerStats stats = f.scheduler->stats();
  ASSERT_GT(stats.preemptions, 0);
  EXPECT_EQ(f.observer->preemptions, stats.preemptions);

  int64_t prefill = 0, decode = 0, prompt = 0, generated = 0, seqs = 0;
  for (const StepStats& s : f.observer->steps) {
    prefill += s.num_prefill_tokens;
    decode += s.num_decode_tokens;
    prompt += s.num_prompt_tokens;
    generated += s.num_generated_tokens;
    seqs += s.num_seqs;
    EXPECT_LE(s.num_prefill_tokens + s.num_decode_tokens, 16);
    EXPECT_LE(s.free_pages, s.total_pages);
  }
  EXPECT_EQ(prefill + decode, f.engine->batched_tokens);
  EXPECT_GT(prefill, 6 * 6) << "recomputation after preemption is prefill work";
  EXPECT_EQ(prompt, stats.prompt_tokens);
  EXPECT_EQ(prompt, 6 * 6);
  EXPECT_EQ(generated, stats.generated_tokens);
  EXPECT_EQ(generated, 6 * 14);

  // Each request is admitted once and gets one first token and one end, despite preemptions.
  EXPECT_EQ(f.observer->queue_times.size(), 6u);
  EXPECT_EQ(f.observer->ttfts.size(), 6u);
  ASSERT_EQ(f.observer->ends.size(), 6u);
  int64_t completion = 0;
  for (const RequestEndStats& end : f.observer->ends) {
    EXPECT_EQ(end.code, absl::StatusCode::kOk);
    completion += end.completion_tokens;
    EXPECT_GE(end.e2e_latency, 14 * kStepTime);
  }
  EXPECT_EQ(completion, generated);
}

TEST(SchedulerObserverTest, CancelledDeadlineAndShutdownEndsCarryTheirCodes) {
  Fixture f(/*pages=*/256, /*budget=*/64, /*seqs=*/1);
  auto running = f.Submit(Params(4, 400));
  auto cancelled_waiting = f.Submit(Params(4, 10));
  auto expiring = f.Submit(Params(4, 10), f.now + absl::Milliseconds(25));
  f.scheduler->Step();
  f.scheduler->Step();
  f.handles[1]->Cancel();
  f.scheduler->Step();  // the clock passes 25 ms here: `expiring` ends too
  f.scheduler->Step();
  ASSERT_EQ(f.observer->ends.size(), 2u);
  EXPECT_EQ(f.observer->ends[0].code, absl::StatusCode::kCancelled);
  EXPECT_EQ(f.observer->ends[0].completion_tokens, 0);
  EXPECT_EQ(f.observer->ends[1].code, absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(f.observer->queue_times.size(), 1u) << "only the running request was admitted";
  EXPECT_EQ(f.observer->ttfts.size(), 1u);

  f.scheduler->Shutdown(absl::ZeroDuration());
  ASSERT_EQ(f.observer->ends.size(), 3u);
  const RequestEndStats& last = f.observer->ends[2];
  EXPECT_EQ(last.code, absl::StatusCode::kUnavailable);
  EXPECT_EQ(last.finish_reason, FinishReason::kNone);
  EXPECT_EQ(static_cast<size_t>(last.completion_tokens), running->tokens.size());
  EXPECT_EQ(running->terminal_calls, 1);
  // Shutdown reports the final state.
  const StepStats& final_state = f.observer->steps.back();
  EXPECT_EQ(final_state.num_seqs, 0);
  EXPECT_EQ(final_state.running, 0);
  EXPECT_EQ(final_state.waiting, 0);
  EXPECT_EQ(final_state.free_pages, 256);
}

TEST(SchedulerObserverTest, StartReportsTheInitialStateAndTheThreadReportsSteps) {
  auto observer = std::make_shared<RecordingObserver>();
  absl::Time now = absl::UnixEpoch();
  SchedulerOptions options{.page_size = 4,
                           .num_pages = 32,
                           .max_num_seqs = 4,
                           .max_batched_tokens = 32,
                           .max_waiting = 10};
  options.observer = observer;
  auto scheduler = *Scheduler::Create(std::make_unique<FixedTokenEngine>(&now, kStepTime), options);
  scheduler->Start();
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(scheduler->Submit(Params(3, 5), sink).ok());
  scheduler->Shutdown(absl::Seconds(10));  // drains: the request finishes
  EXPECT_EQ(sink->tokens.size(), 5u);
  ASSERT_GE(observer->steps.size(), 3u);
  EXPECT_EQ(observer->steps.front().num_seqs, 0);
  EXPECT_EQ(observer->steps.front().total_pages, 32);
  EXPECT_EQ(observer->steps.front().free_pages, 32);
  ASSERT_EQ(observer->ends.size(), 1u);
  EXPECT_EQ(observer->ends[0].code, absl::StatusCode::kOk);
}

}  // namespace
}  // namespace kvserve
