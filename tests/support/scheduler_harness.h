// SchedulerHarness: a Scheduler over a fake (or real) engine, on a fake clock, driven by the test
// on its own thread (Step() without Start()), with every submission's sink and handle kept.
// TestParams: a valid GenerationParams with a patterned prompt.
//
// Threads: one test thread does everything; the scheduler thread is never started.
#ifndef KVSERVE_TESTS_SUPPORT_SCHEDULER_HARNESS_H_
#define KVSERVE_TESTS_SUPPORT_SCHEDULER_HARNESS_H_

#include <memory>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "engine/sched/scheduler.h"
#include "gtest/gtest.h"
#include "tests/support/recording_sink.h"

namespace kvserve {

// A prompt of `prompt_len` ids (i * 7 + salt * 13) % 256: bytes, never EOS; equal salts give equal
// prompts (so the prefix cache can match them).
inline GenerationParams TestParams(int prompt_len, int max_tokens, int salt = 0) {
  GenerationParams p;
  p.has_prompt = true;
  for (int i = 0; i < prompt_len; ++i) p.prompt_ids.push_back((i * 7 + salt * 13) % 256);
  p.max_tokens = max_tokens;
  return p;
}

template <typename Engine>
struct SchedulerHarness {
  // `make_engine(&now)` builds the engine (given the fake clock, for engines that move it).
  template <typename MakeEngine>
  SchedulerHarness(SchedulerOptions options, MakeEngine make_engine) {
    std::unique_ptr<Engine> owned = make_engine(&now);
    engine = owned.get();
    scheduler = *Scheduler::Create(std::move(owned), std::move(options), [this] { return now; });
  }
  explicit SchedulerHarness(SchedulerOptions options)
      : SchedulerHarness(std::move(options),
                         [](absl::Time*) { return std::make_unique<Engine>(); }) {}

  // Submits and expects acceptance; the sink records what the request gets.
  std::shared_ptr<RecordingSink> Submit(GenerationParams params,
                                        absl::Time deadline = absl::InfiniteFuture()) {
    auto sink = std::make_shared<RecordingSink>();
    auto handle = scheduler->Submit(std::move(params), sink, deadline);
    EXPECT_TRUE(handle.ok()) << handle.status();
    if (handle.ok()) handles.push_back(*handle);
    return sink;
  }
  // Steps until nothing is left to do (or max_steps).
  void RunToIdle(int max_steps = 10000) {
    for (int i = 0; i < max_steps && scheduler->Step(); ++i) {
    }
  }

  absl::Time now = absl::UnixEpoch();
  Engine* engine = nullptr;  // owned by the scheduler
  std::unique_ptr<Scheduler> scheduler;
  std::vector<std::shared_ptr<RequestHandle>> handles;
};

}  // namespace kvserve

#endif  // KVSERVE_TESTS_SUPPORT_SCHEDULER_HARNESS_H_
