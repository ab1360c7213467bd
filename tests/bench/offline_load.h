// OfflineLoad: runs a kvload workload (the same WorkloadGenerator, so the same prompts, lengths and
// seeds kvload would send) straight into an in-process Scheduler: no gRPC, no serialization. The
// baseline the serving benchmarks compare the daemon, static batching and prefix caching against.
//
// Submission follows the workload: open loop (requests due at their Poisson arrival times) or,
// for an infinite rate, closed loop with at most `concurrency` requests in flight (0 = all at
// once). Every request asks for exactly max_tokens tokens (ignore_eos), like kvload's default.
//
// While it runs, the calling thread samples scheduler->stats() about every millisecond and keeps
// the KV figures at saturation (samples with requests waiting), for the KV-waste target.
//
// Threads: RunOffline blocks its caller, which is the only thread that submits; sinks run on the
// scheduler's thread (Start() must have been called).
#ifndef KVSERVE_TESTS_BENCH_OFFLINE_LOAD_H_
#define KVSERVE_TESTS_BENCH_OFFLINE_LOAD_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/kvload/latency_stats.h"
#include "clients/kvload/workload.h"
#include "engine/sched/scheduler.h"

namespace kvserve::bench {

struct OfflineRecord {
  int32_t prompt_len = 0;
  int32_t max_tokens = 0;
  double ttft_s = -1;  // from its submission; -1 if no token came
  double e2e_s = 0;
  int64_t tokens = 0;
  int32_t cached_prompt_tokens = 0;
  bool ok = false;
};

struct OfflineResult {
  double duration_s = 0;  // first submission → last end
  std::vector<OfflineRecord> requests;
  // KV at saturation (stats samples with waiting > 0 and running > 0).
  int64_t saturated_samples = 0;
  double max_unused_slots_per_request = 0;
  double mean_unused_slots_per_request = 0;
  int64_t max_running = 0;

  int64_t total_tokens() const;
  int64_t failures() const;
  double tokens_per_second() const { return duration_s > 0 ? total_tokens() / duration_s : 0; }
  // TTFTs of the requests that got a token, in seconds (kvload's percentile method).
  load::LatencySummary Ttft() const;
};

// Runs `plans` (from load::GenerateWorkload, possibly edited) in order of arrival_s.
absl::StatusOr<OfflineResult> RunOffline(Scheduler& scheduler,
                                         const std::vector<load::RequestPlan>& plans,
                                         int32_t concurrency);

}  // namespace kvserve::bench

#endif  // KVSERVE_TESTS_BENCH_OFFLINE_LOAD_H_
