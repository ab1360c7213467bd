// Metrics: kvserve's Prometheus metrics (prometheus-cpp), fed by the scheduler as its
// SchedulerObserver and by the gRPC service for refused requests; MetricsExposer serves them as
// text at http://<host>:<port>/metrics.
//
// What is exported (Prometheus conventions: kvserve_ prefix, base units, _total for counters):
//
//   kvserve_requests_total{outcome}          accepted requests by how they ended: length, stop
//                                            (finished OK), cancelled, deadline_exceeded,
//                                            unavailable (ended by shutdown), error (anything else)
//   kvserve_requests_rejected_total{code}    requests refused before they were queued:
//                                            INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE
//                                            (other codes get their own label value if they appear)
//   kvserve_http_responses_total{route,status}  replies of the HTTP front end (server/openai/):
//                                            route is the path of a known endpoint or "other"
//   kvserve_time_to_first_token_seconds      histogram, Submit → first sampled token; one
//                                            observation per request that got a token
//   kvserve_time_per_output_token_seconds    histogram, mean gap between a request's tokens; one
//                                            observation per request that finished OK with >= 2
//   kvserve_e2e_request_latency_seconds      histogram, Submit → end, requests that finished OK
//   kvserve_request_queue_time_seconds       histogram, Submit → first admission into a batch
//   kvserve_request_prompt_tokens            histogram, prompt length of every ended request
//   kvserve_request_generation_tokens        histogram, tokens handed to every ended request's
//                                            stream (any outcome), so its _sum equals
//                                            kvserve_generation_tokens_total once idle
//   kvserve_num_requests_running             gauge, requests in the batch after the last step
//   kvserve_num_requests_waiting             gauge, requests queued after the last step
//   kvserve_kv_pages_used / _free / _total   gauges, KV cache pages (used = total − free)
//   kvserve_kv_pages_cached                  gauge, free pages still holding a reusable prefix
//   kvserve_preemptions_total                counter, requests preempted for want of pages
//   kvserve_prefix_cache_hits_total          counter, prompt tokens served from the prefix cache
//   kvserve_batch_size                       histogram, sequences per step that ran a batch
//   kvserve_batch_tokens                     histogram, tokens per step (prefill + decode)
//   kvserve_step_duration_seconds            histogram, step start → logits ready
//   kvserve_prompt_tokens_total              counter, prompt tokens prefilled (each request once;
//                                            recomputation after preemption excluded)
//   kvserve_generation_tokens_total          counter, tokens sampled and handed to streams, of
//                                            every outcome (a cancelled stream's client may not
//                                            have read them all)
//
// Threads: the SchedulerObserver hooks run on the scheduler thread; OnRequestRejected on gRPC
// threads and the HTTP front end's loop thread; OnHttpResponse on that loop thread; the exposer's
// HTTP threads collect concurrently. prometheus-cpp's counters and gauges are atomics and a
// histogram holds its own mutex only for an update or a copy, so no hook blocks the batch for
// longer than that. A scrape is not a snapshot across metrics: figures from the same step may be
// split between two scrapes.
#ifndef KVSERVE_SERVER_METRICS_H_
#define KVSERVE_SERVER_METRICS_H_

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/sched/scheduler_observer.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace kvserve {

// The `outcome` label of kvserve_requests_total for one ended request.
const char* RequestOutcome(absl::StatusCode code, FinishReason reason);

class Metrics final : public SchedulerObserver {
 public:
  // Registers every metric above (each labelled series at 0) in a new registry.
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // SchedulerObserver: the scheduler thread.
  void OnStep(const StepStats& step) override;
  void OnPreemption() override;
  void OnRequestAdmitted(absl::Duration queue_time) override;
  void OnFirstToken(absl::Duration time_to_first_token) override;
  void OnRequestEnded(const RequestEndStats& request) override;

  // A request refused with `code` before reaching the queue. Any thread.
  void OnRequestRejected(absl::StatusCode code);

  // A reply of the HTTP front end completed. Its loop thread.
  void OnHttpResponse(const std::string& route, int status);

  // What an exposer serves. Any thread.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

 private:
  static constexpr int kNumOutcomes = 6;

  const std::shared_ptr<prometheus::Registry> registry_;
  std::array<prometheus::Counter*, kNumOutcomes> requests_by_outcome_;
  prometheus::Family<prometheus::Counter>& rejected_family_;
  prometheus::Family<prometheus::Counter>& http_responses_family_;
  prometheus::Histogram& time_to_first_token_;
  prometheus::Histogram& time_per_output_token_;
  prometheus::Histogram& e2e_latency_;
  prometheus::Histogram& queue_time_;
  prometheus::Histogram& request_prompt_tokens_;
  prometheus::Histogram& request_generation_tokens_;
  prometheus::Gauge& running_;
  prometheus::Gauge& waiting_;
  prometheus::Gauge& pages_used_;
  prometheus::Gauge& pages_free_;
  prometheus::Gauge& pages_total_;
  prometheus::Counter& preemptions_;
  prometheus::Counter& prefix_cache_hits_;
  prometheus::Gauge& pages_cached_;
  prometheus::Histogram& batch_size_;
  prometheus::Histogram& batch_tokens_;
  prometheus::Histogram& step_duration_;
  prometheus::Counter& prompt_tokens_;
  prometheus::Counter& generation_tokens_;
};

// Serves a registry over HTTP (prometheus-cpp's civetweb Exposer) at /metrics until destroyed.
//
// Threads: Start() and the destructor from one controlling thread; port() from any thread. The
// exposer's own threads answer scrapes.
// The metrics endpoint's defences against slow or idle sockets (a scrape must not wait behind
// them): civetweb serves each connection on one of kMetricsHttpThreads threads, and drops a
// connection that has not sent a whole request within kMetricsRequestTimeout (its
// request_timeout_ms covers the whole request head, however slowly it trickles in). Keep-alive is
// off, so a served connection frees its thread at once. A handful of slowloris sockets can hold
// at most that many threads for that long; Prometheus scrapes on the rest.
inline constexpr int kMetricsHttpThreads = 16;
inline constexpr absl::Duration kMetricsRequestTimeout = absl::Seconds(2);

class MetricsExposer {
 public:
  // Listens on host:port (port 0: any free port; see port()). `host` must be an IPv4 address or a
  // name that resolves to one: Debian's civetweb is built without IPv6. UNAVAILABLE if the
  // address cannot be bound, INVALID_ARGUMENT for a bad port or an IPv6 host.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& host, int32_t port, std::shared_ptr<prometheus::Registry> registry);

  MetricsExposer(const MetricsExposer&) = delete;
  MetricsExposer& operator=(const MetricsExposer&) = delete;
  ~MetricsExposer();

  int32_t port() const { return port_; }

 private:
  MetricsExposer() = default;

  std::shared_ptr<prometheus::Registry> registry_;  // kept alive while served
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string host_;
  int32_t port_ = 0;
};

}  // namespace kvserve

#endif  // KVSERVE_SERVER_METRICS_H_
