#include "server/metrics.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace kvserve {
namespace {

using Buckets = prometheus::Histogram::BucketBoundaries;

// Latencies of a CPU server: sub-millisecond steps of small models up to a minute-long request.
const Buckets& LatencyBuckets() {
  static const Buckets* buckets =
      new Buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
                  0.4,   0.5,    0.75,  1,    2.5,   5,    7.5,   10,  20,   30,  60};
  return *buckets;
}
const Buckets& E2eBuckets() {
  static const Buckets* buckets =
      new Buckets{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                  5,     10,    15,   20,    30,   40,  50,   60,  120, 300};
  return *buckets;
}
const Buckets& TokenGapBuckets() {
  static const Buckets* buckets =
      new Buckets{0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04,
                  0.05,   0.075, 0.1,    0.15,  0.2,    0.3,  0.4,   0.5,  0.75,  1,    2.5};
  return *buckets;
}
const Buckets& StepBuckets() {
  static const Buckets* buckets = new Buckets{
      0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5};
  return *buckets;
}
// 1, 2, 4, ... up to `max`.
Buckets PowersOfTwo(double max) {
  Buckets buckets;
  for (double b = 1; b <= max; b *= 2) buckets.push_back(b);
  return buckets;
}
// 1, 2, 5, 10, 20, 50, ... up to 100000 tokens.
const Buckets& TokenCountBuckets() {
  static const Buckets* buckets = [] {
    auto* b = new Buckets;
    for (double scale = 1; scale <= 10000; scale *= 10) {
      b->insert(b->end(), {scale, 2 * scale, 5 * scale});
    }
    b->push_back(100000);
    return b;
  }();
  return *buckets;
}

// The outcome label values, in index order (see OutcomeIndex).
constexpr const char* kOutcomes[] = {"length",      "stop", "cancelled", "deadline_exceeded",
                                     "unavailable", "error"};

int OutcomeIndex(absl::StatusCode code, FinishReason reason) {
  switch (code) {
    case absl::StatusCode::kOk:
      if (reason == FinishReason::kLength) return 0;
      if (reason == FinishReason::kStop) return 1;
      return 5;  // OK without a reason would be a scheduler bug
    case absl::StatusCode::kCancelled:
      return 2;
    case absl::StatusCode::kDeadlineExceeded:
      return 3;
    case absl::StatusCode::kUnavailable:
      return 4;
    default:
      return 5;
  }
}

prometheus::Counter& AddCounter(prometheus::Registry& registry, const std::string& name,
                                const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}
prometheus::Gauge& AddGauge(prometheus::Registry& registry, const std::string& name,
                            const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}
prometheus::Histogram& AddHistogram(prometheus::Registry& registry, const std::string& name,
                                    const std::string& help, const Buckets& buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add({}, buckets);
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// Opens and closes one TCP connection to host:port (IPv4; a wildcard host means this machine).
void Poke(const std::string& host, int32_t port) {
  const std::string target = host.empty() || host == "0.0.0.0" ? "127.0.0.1" : host;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(target.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return;
  const int fd = ::socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  if (fd >= 0) {
    (void)::connect(fd, found->ai_addr, found->ai_addrlen);
    ::close(fd);
  }
  ::freeaddrinfo(found);
}

}  // namespace

const char* RequestOutcome(absl::StatusCode code, FinishReason reason) {
  return kOutcomes[OutcomeIndex(code, reason)];
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rejected_family_(prometheus::BuildCounter()
                           .Name("kvserve_requests_rejected_total")
                           .Help("Requests refused before they were queued, by status code.")
                           .Register(*registry_)),
      http_responses_family_(prometheus::BuildCounter()
                                 .Name("kvserve_http_responses_total")
                                 .Help("Replies of the OpenAI-compatible HTTP front end, by route "
                                       "and HTTP status.")
                                 .Register(*registry_)),
      time_to_first_token_(AddHistogram(*registry_, "kvserve_time_to_first_token_seconds",
                                        "Time from a request's arrival to its first token.",
                                        LatencyBuckets())),
      time_per_output_token_(AddHistogram(
          *registry_, "kvserve_time_per_output_token_seconds",
          "Mean time between successive tokens of a request that finished with two or more.",
          TokenGapBuckets())),
      e2e_latency_(AddHistogram(*registry_, "kvserve_e2e_request_latency_seconds",
                                "Time from a request's arrival to its end, requests that finished.",
                                E2eBuckets())),
      queue_time_(AddHistogram(*registry_, "kvserve_request_queue_time_seconds",
                               "Time from a request's arrival to its first admission into a batch.",
                               LatencyBuckets())),
      request_prompt_tokens_(AddHistogram(*registry_, "kvserve_request_prompt_tokens",
                                          "Prompt length of each ended request.",
                                          TokenCountBuckets())),
      request_generation_tokens_(AddHistogram(
          *registry_, "kvserve_request_generation_tokens",
          "Tokens generated for each ended request, whatever its outcome.", TokenCountBuckets())),
      running_(AddGauge(*registry_, "kvserve_num_requests_running",
                        "Requests in the running batch after the last step.")),
      waiting_(AddGauge(*registry_, "kvserve_num_requests_waiting",
                        "Requests queued for admission after the last step.")),
      pages_used_(AddGauge(*registry_, "kvserve_kv_pages_used", "KV cache pages in use.")),
      pages_free_(AddGauge(*registry_, "kvserve_kv_pages_free", "KV cache pages free.")),
      pages_total_(AddGauge(*registry_, "kvserve_kv_pages_total", "KV cache pages in the pool.")),
      preemptions_(AddCounter(*registry_, "kvserve_preemptions_total",
                              "Running requests preempted (pages freed, recomputed later).")),
      prefix_cache_hits_(AddCounter(*registry_, "kvserve_prefix_cache_hits_total",
                                    "Prompt tokens served from the prefix cache.")),
      pages_cached_(AddGauge(*registry_, "kvserve_kv_pages_cached",
                             "Free KV cache pages still holding a reusable prefix.")),
      batch_size_(AddHistogram(*registry_, "kvserve_batch_size",
                               "Sequences in each step that ran a batch.", PowersOfTwo(1024))),
      batch_tokens_(AddHistogram(*registry_, "kvserve_batch_tokens",
                                 "Tokens (prefill + decode) in each step that ran a batch.",
                                 PowersOfTwo(16384))),
      step_duration_(AddHistogram(*registry_, "kvserve_step_duration_seconds",
                                  "Time from a step's start to its logits.", StepBuckets())),
      prompt_tokens_(AddCounter(*registry_, "kvserve_prompt_tokens_total",
                                "Prompt tokens prefilled (recomputation excluded).")),
      generation_tokens_(AddCounter(*registry_, "kvserve_generation_tokens_total",
                                    "Tokens generated and handed to streams.")) {
  auto& outcomes = prometheus::BuildCounter()
                       .Name("kvserve_requests_total")
                       .Help("Accepted requests by how they ended.")
                       .Register(*registry_);
  for (int i = 0; i < kNumOutcomes; ++i) {
    requests_by_outcome_[i] = &outcomes.Add({{"outcome", kOutcomes[i]}});
  }
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kResourceExhausted,
        absl::StatusCode::kUnavailable}) {
    rejected_family_.Add({{"code", absl::StatusCodeToString(code)}});
  }
}

void Metrics::OnStep(const StepStats& step) {
  running_.Set(step.running);
  waiting_.Set(step.waiting);
  pages_used_.Set(static_cast<double>(step.total_pages - step.free_pages));
  pages_free_.Set(static_cast<double>(step.free_pages));
  pages_total_.Set(static_cast<double>(step.total_pages));
  pages_cached_.Set(static_cast<double>(step.cached_pages));
  if (step.num_cached_prompt_tokens > 0)
    prefix_cache_hits_.Increment(step.num_cached_prompt_tokens);
  if (step.num_prompt_tokens > 0) prompt_tokens_.Increment(step.num_prompt_tokens);
  if (step.num_generated_tokens > 0) generation_tokens_.Increment(step.num_generated_tokens);
  if (step.num_seqs > 0) {
    batch_size_.Observe(step.num_seqs);
    batch_tokens_.Observe(step.num_prefill_tokens + step.num_decode_tokens);
    step_duration_.Observe(Seconds(step.duration));
  }
}

void Metrics::OnPreemption() { preemptions_.Increment(); }

void Metrics::OnRequestAdmitted(absl::Duration queue_time) {
  queue_time_.Observe(Seconds(queue_time));
}

void Metrics::OnFirstToken(absl::Duration time_to_first_token) {
  time_to_first_token_.Observe(Seconds(time_to_first_token));
}

void Metrics::OnRequestEnded(const RequestEndStats& request) {
  requests_by_outcome_[OutcomeIndex(request.code, request.finish_reason)]->Increment();
  request_prompt_tokens_.Observe(request.prompt_tokens);
  request_generation_tokens_.Observe(request.completion_tokens);
  if (request.code != absl::StatusCode::kOk) return;
  e2e_latency_.Observe(Seconds(request.e2e_latency));
  if (request.time_per_output_token.has_value()) {
    time_per_output_token_.Observe(Seconds(*request.time_per_output_token));
  }
}

void Metrics::OnHttpResponse(const std::string& route, int status) {
  http_responses_family_.Add({{"route", route}, {"status", absl::StrCat(status)}}).Increment();
}

void Metrics::OnRequestRejected(absl::StatusCode code) {
  // Family::Add returns the existing series for known labels (under the family's mutex).
  rejected_family_.Add({{"code", absl::StatusCodeToString(code)}}).Increment();
}

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& host, int32_t port, std::shared_ptr<prometheus::Registry> registry) {
  if (registry == nullptr) return absl::InvalidArgumentError("MetricsExposer needs a registry");
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("metrics port ", port, " is not in [0, 65535]"));
  }
  if (host.find(':') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics host '", host,
                     "' looks like IPv6; the metrics endpoint is IPv4 only (civetweb without "
                     "IPv6): give an IPv4 --metrics_host"));
  }
  const std::string address = absl::StrCat(host, ":", port);
  std::unique_ptr<MetricsExposer> exposer(new MetricsExposer());
  try {
    exposer->exposer_ = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
        "listening_ports", address, "num_threads", std::to_string(kMetricsHttpThreads),
        "request_timeout_ms", std::to_string(absl::ToInt64Milliseconds(kMetricsRequestTimeout)),
        "enable_keep_alive", "no"});
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", address,
                                               " (address in use or not local?): ", e.what()));
  }
  const std::vector<int> ports = exposer->exposer_->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    return absl::UnavailableError(absl::StrCat("metrics server on ", address, " has no port"));
  }
  exposer->host_ = host;
  exposer->port_ = ports.front();
  exposer->registry_ = std::move(registry);
  exposer->exposer_->RegisterCollectable(exposer->registry_);
  return exposer;
}

MetricsExposer::~MetricsExposer() {
  if (exposer_ == nullptr) return;
  // civetweb's listener polls with a fixed 2 s timeout and only notices the stop request when the
  // poll returns; a connection makes it return at once, so poke the port until the stop is done.
  std::atomic<bool> stopped{false};
  std::thread poker([this, &stopped] {
    const absl::Time give_up = absl::Now() + absl::Seconds(5);
    while (!stopped.load(std::memory_order_acquire) && absl::Now() < give_up) {
      Poke(host_, port_);
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  exposer_.reset();  // stops the HTTP threads before the registry can go
  stopped.store(true, std::memory_order_release);
  poker.join();
}

}  // namespace kvserve
