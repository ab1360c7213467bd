// Metrics: what a RunResult adds up to (the numbers kvload reports and plots).
//
//   TTFT  send → first token-carrying message.
//   ITL   gap between consecutive token-carrying messages of one sample, divided over the tokens
//         the later one carries (a message with k tokens after a gap g adds k samples of g/k).
//   TPOT  (e2e - TTFT) / (tokens - 1) of the request's longest sample, for samples with at least
//         two tokens.
//   e2e   send → final status.
// With n > 1 samples per request, ITL and TPOT are per sample (as a user reading one of them sees
// it) and throughput counts the tokens of every sample. Latencies are over OK requests only;
// throughput counts every token received (cancelled and failed streams included) and OK
// requests, over the run's duration. Input throughput counts the prompt tokens of every request
// (the server's usage.prompt_tokens where it reported one, else the planned length).
// Goodput (slo.h): the requests that ended OK within every objective, per second, and their
// output tokens per second; `goodput_fraction` is their share of the requests kvload did not
// cancel on purpose.
//
// Threads: plain functions of their arguments.
#ifndef KVSERVE_CLIENTS_KVLOAD_METRICS_H_
#define KVSERVE_CLIENTS_KVLOAD_METRICS_H_

#include <cstdint>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "clients/kvload/latency_stats.h"
#include "clients/kvload/run_result.h"
#include "clients/kvload/slo.h"

namespace kvserve::load {

struct RunSummary {
  int64_t requests = 0;  // finished, of every outcome
  int64_t ok = 0;
  int64_t cancelled = 0;
  int64_t aborted = 0;
  int64_t errors = 0;
  std::map<std::string, int64_t> errors_by_code;  // status code name → count (Outcome::kError)
  double duration_s = 0;
  int64_t prompt_tokens = 0;          // sent, over all requests (usage.prompt_tokens if reported)
  int64_t output_tokens = 0;          // received, over all requests
  int64_t requested_tokens = 0;       // Σ max_tokens × n over OK requests
  int64_t ok_output_tokens = 0;       // received by OK requests
  double request_throughput = 0;      // OK requests per second
  double output_throughput = 0;       // output tokens per second
  double input_throughput = 0;        // prompt tokens per second
  double total_token_throughput = 0;  // input + output tokens per second
  // Goodput; meaningful when `slo` is not empty.
  Slo slo;
  int64_t good = 0;             // requests meeting every objective
  double goodput_fraction = 0;  // good / (requests - cancelled)
  double request_goodput = 0;   // good requests per second
  double token_goodput = 0;     // output tokens of good requests per second
  // In milliseconds.
  LatencySummary ttft_ms;
  LatencySummary itl_ms;
  LatencySummary tpot_ms;
  LatencySummary e2e_ms;
};

struct SummaryOptions {
  Slo slo;
  std::vector<double> percentiles{std::begin(kDefaultPercentiles), std::end(kDefaultPercentiles)};
};

RunSummary SummarizeRun(const RunResult& result, const SummaryOptions& options = {});

// Requests that did not end as asked: errors and aborted streams (not deliberate cancellations).
inline int64_t FailedRequests(const RunSummary& s) { return s.errors + s.aborted; }

// One request's ITL samples in milliseconds, appended to `out`.
void AppendItlMs(const RequestRecord& request, std::vector<double>* out);

// Latency samples of OK requests, in milliseconds (unsorted).
std::vector<double> TtftSamplesMs(const RunResult& result);
std::vector<double> ItlSamplesMs(const RunResult& result);

// Output tokens per second over time, in fixed buckets from the run's first request start.
struct Timeline {
  double bucket_s = 1;
  std::vector<double> tokens_per_s;  // bucket i covers [i, i + 1) * bucket_s
};
// Buckets of a "nice" width (0.1, 0.2, 0.5, 1, 2, 5 ... s) giving at most `max_buckets`.
Timeline TokenTimeline(const RunResult& result, int max_buckets = 120);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_METRICS_H_
