// Scheduler: continuous batching over one StepEngine and one BatchingKvCache.
//
// Every iteration of the loop (Step()) takes newly submitted requests into the waiting queue
// (FIFO), ends cancelled and expired requests (freeing their pages), then runs three phases:
//   1. plan: StepPlanner (step_planner.h) decides the batch within `max_batched_tokens` and
//      `max_num_seqs` — every running request's next chunk, preemptions when pages run out,
//      admissions from the queue (with prefix-cache matches) — as a StepPlan value;
//   2. execute: the plan becomes an AttentionBatch and the engine runs one step over it;
//   3. update: prefix-cache commits, sampling a token for every sequence whose chunk reached its
//      end, the stop rules (stop_rules.h) and stop strings (output_text.h), streaming token and
//      text to the sinks, evicting finished requests.
//
// Samples: a request with n > 1 runs as one sequence until its prompt is computed; then n - 1
// more are forked from it (BatchingKvCache::Fork: they share its pages, copy-on-write), each
// sampling from the same last-prompt logits with its own seed stream. The request ends when its
// last sample does (OnFinish with one Usage), or all at once (cancel, deadline, shutdown, error).
//
// Outputs do not depend on batching, chunking or preemption: sampling is counter-based per
// (seed, output index), and recomputation rebuilds exactly the same K/V.
//
// Monitoring: the scheduler reports every step, preemption, admission, first token and request
// end as SchedulerObserver events (scheduler_observer.h), on the scheduler thread, at O(batch)
// cost per step. A StatsAccumulator folds them into stats() (scheduler_stats.h); an optional
// SchedulerOptions::observer hears the same events after it.
//
// Threads: Submit(), Shutdown() and stats() are thread-safe (gRPC threads call them). Everything
// else — the cache, the pages, the engine, every request's state and its sink — belongs to the
// scheduler thread started by Start(). Tests may instead drive Step() themselves on one thread
// without calling Start().
#ifndef KVSERVE_ENGINE_SCHED_SCHEDULER_H_
#define KVSERVE_ENGINE_SCHED_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/cache/batching_kv_cache.h"
#include "engine/model/step_engine.h"
#include "engine/sched/request_validation.h"
#include "engine/sched/sampler.h"
#include "engine/sched/scheduler_observer.h"
#include "engine/sched/scheduler_stats.h"
#include "engine/sched/step_planner.h"
#include "engine/sched/stop_rules.h"
#include "engine/sched/token_sink.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvserve {

struct SchedulerOptions {
  int32_t page_size = 16;
  int64_t num_pages = 0;  // 0: derive from kv_cache_bytes
  int64_t kv_cache_bytes = int64_t{1} << 30;
  int32_t max_num_seqs = 64;          // sequences in one step
  int32_t max_batched_tokens = 512;   // tokens in one step (prefill chunks + decodes)
  int32_t max_waiting = 1024;         // queued requests beyond this are refused
  bool enable_prefix_caching = true;  // reuse the K/V of full pages with identical prefixes
  // Whether queued requests may join a step; nullptr: continuous batching, what serves. (Static
  // batching for comparisons is a policy of the benchmarks: tests/bench/static_batch_admission.h.)
  std::shared_ptr<AdmissionPolicy> admission_policy;
  // Longest prompt accepted, in tokens; longer ones are refused with INVALID_ARGUMENT. 0: the
  // model's context (Create resolves it, so options() reports the effective bound).
  int32_t max_prompt_tokens = 0;
  // Told about steps and requests on the scheduler thread; nullptr: nobody. Shared so that it
  // outlives the scheduler's last call (Shutdown()).
  std::shared_ptr<SchedulerObserver> observer;
  // Decodes the output into text (SampleOutput::text) and matches stop strings; nullptr: no text,
  // and requests with stop strings are refused.
  std::shared_ptr<const Tokenizer> tokenizer;
  absl::Status Validate() const;
};

class Scheduler {
 public:
  // Called from the scheduler thread and from Submit() (any thread), to stamp submissions.
  using Clock = std::function<absl::Time()>;

  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(std::unique_ptr<StepEngine> engine,
                                                           SchedulerOptions options,
                                                           Clock clock = absl::Now);
  ~Scheduler();  // Shutdown(absl::ZeroDuration()) if still running

  // Validates and queues a request. INVALID_ARGUMENT (bad parameters, message names the field;
  // a prompt over max_prompt_tokens starts with "prompt"), RESOURCE_EXHAUSTED (waiting queue full),
  // UNAVAILABLE (shutting down). On OK the sink will get exactly one terminal call; the returned
  // handle cancels the request.
  absl::StatusOr<std::shared_ptr<RequestHandle>> Submit(
      GenerationParams params, std::shared_ptr<TokenSink> sink,
      absl::Time deadline = absl::InfiniteFuture());

  // Starts the scheduler thread.
  void Start();
  // Stops accepting, lets in-flight requests finish for up to `drain`, ends the rest with
  // UNAVAILABLE, and joins the thread. Idempotent.
  void Shutdown(absl::Duration drain);

  // One loop iteration (see the file comment). Returns false when there was nothing to do.
  // Only for the scheduler thread, or tests that never call Start().
  bool Step();

  SchedulerStats stats() const;
  const ModelConfig& model_config() const { return engine_->config(); }
  const SchedulerOptions& options() const { return options_; }

 private:
  struct Request;  // one Submit's state, shared by its samples; the scheduler thread's
  struct Sample;   // one sample of a request: the Sequence that is planned and run
  Scheduler(std::unique_ptr<StepEngine> engine, std::unique_ptr<BatchingKvCache> cache,
            SchedulerOptions options, Clock clock);

  void Loop();
  static Sample& AsSample(Sequence& sequence);

  void TakeSubmissions();
  void EndCancelledAndExpired();
  // The three phases of a step (see the file comment).
  void Plan();
  absl::StatusOr<absl::Span<const float>> Execute();
  void Update(absl::StatusOr<absl::Span<const float>> logits);
  // Creates samples 1..n-1 of `first`'s request, sharing its prompt pages (Fork), each sampling
  // its first token from `logits`, the prompt's last row (into forked_).
  void ForkSamples(Sample& first, absl::Span<const float> logits);
  // Samples the sample's next token from `logits`, applies the stop rules and the stop strings,
  // and streams it.
  void SampleAndStream(Sample& sample, absl::Span<const float> logits);
  // A sample streamed its last token; the request finishes with its last sample.
  void FinishSample(Sample& sample, FinishReason reason);
  void FailRequest(Request& request, const absl::Status& status);
  void RemoveEnded();
  // The state after the step (queues, pages, KV slots) into step_stats_.
  void FillStepState();
  void DeliverTerminalCalls();
  void ObserveEnd(const Request& request, absl::StatusCode code, FinishReason reason);

  const std::unique_ptr<StepEngine> engine_;
  const std::unique_ptr<BatchingKvCache> cache_;
  const SchedulerOptions options_;
  const Clock clock_;
  StatsAccumulator stats_accumulator_;  // stats(): fed the same events as options_.observer
  ObserverList observers_;              // stats_accumulator_, then options_.observer if any
  const std::shared_ptr<std::atomic<int64_t>> cancel_epoch_;

  // Submission side, shared with gRPC threads.
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Sequence>> submitted_ ABSL_GUARDED_BY(mu_);  // first samples
  int32_t queued_ ABSL_GUARDED_BY(mu_) = 0;  // submitted + waiting, for the max_waiting bound
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::thread thread_;

  // Scheduler-thread state.
  WaitingQueue waiting_;  // of Samples
  RunningQueue running_;  // of Samples, in admission order (forked samples after their first)
  StepPlanner planner_;
  int64_t seen_cancel_epoch_ = 0;
  // No waiting request's deadline is earlier (may be stale-early after admissions: then the next
  // scan recomputes it).
  absl::Time earliest_waiting_deadline_ = absl::InfiniteFuture();
  // The clock as of this step's start, then as of its logits (when tokens are sampled); the time
  // every request event of the step is stamped with.
  absl::Time now_ = absl::InfinitePast();
  StepStats step_stats_;  // this step's figures, for the observers
  // Terminal sink calls of this step, made after its stats are published, so that a client that
  // has seen its stream end also sees its pages freed in stats().
  struct TerminalCall {
    std::shared_ptr<TokenSink> sink;
    absl::Status status;  // OK: OnFinish(usage); else OnError(status)
    Usage usage;
  };
  std::vector<TerminalCall> terminal_calls_;
  // Per-step scratch, reused.
  StepPlan plan_;
  std::vector<int32_t> batch_tokens_;
  AttentionBatch attention_batch_;
  SamplerScratch sampler_scratch_;
  RunningQueue forked_;           // samples forked in this step's update, joining running_ after it
  std::string text_;              // one token's released text
  TokenLogprobs token_logprobs_;  // one token's, when asked for
};

}  // namespace kvserve

#endif  // KVSERVE_ENGINE_SCHED_SCHEDULER_H_
