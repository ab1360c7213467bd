#include "tests/bench/offline_load.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace kvserve::bench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Written on the scheduler thread, read by the submitter after `done`.
class TimingSink : public TokenSink {
 public:
  TimingSink(OfflineRecord* record, absl::Mutex* mu, int32_t* in_flight)
      : record_(record), mu_(mu), in_flight_(in_flight), start_(Clock::now()) {}

  void OnOutput(const SampleOutput&) override {
    if (record_->tokens == 0) record_->ttft_s = SecondsSince(start_);
    ++record_->tokens;
  }
  void OnFinish(const Usage& usage) override {
    record_->cached_prompt_tokens = usage.cached_prompt_tokens;
    End(true);
  }
  void OnError(const absl::Status&) override { End(false); }

 private:
  void End(bool ok) {
    record_->e2e_s = SecondsSince(start_);
    record_->ok = ok;
    absl::MutexLock lock(mu_);
    --*in_flight_;
  }

  OfflineRecord* record_;
  absl::Mutex* mu_;
  int32_t* in_flight_;
  Clock::time_point start_;
};

}  // namespace

int64_t OfflineResult::total_tokens() const {
  int64_t n = 0;
  for (const OfflineRecord& r : requests) n += r.tokens;
  return n;
}

int64_t OfflineResult::failures() const {
  return std::count_if(requests.begin(), requests.end(),
                       [](const OfflineRecord& r) { return !r.ok || r.tokens != r.max_tokens; });
}

load::LatencySummary OfflineResult::Ttft() const {
  std::vector<double> ttfts;
  for (const OfflineRecord& r : requests) {
    if (r.ttft_s >= 0) ttfts.push_back(r.ttft_s);
  }
  return load::Summarize(ttfts);
}

absl::StatusOr<OfflineResult> RunOffline(Scheduler& scheduler,
                                         const std::vector<load::RequestPlan>& plans,
                                         int32_t concurrency) {
  if (plans.empty()) return absl::InvalidArgumentError("no requests to run");
  OfflineResult result;
  result.requests.resize(plans.size());
  absl::Mutex mu;
  int32_t in_flight = 0;
  std::vector<std::shared_ptr<RequestHandle>> handles;
  double unused_sum = 0;
  const Clock::time_point t0 = Clock::now();
  size_t next = 0;
  for (;;) {
    const double now = SecondsSince(t0);
    {
      absl::MutexLock lock(&mu);
      if (next == plans.size() && in_flight == 0) break;
      while (next < plans.size() && plans[next].arrival_s <= now &&
             (concurrency == 0 || in_flight < concurrency)) {
        const load::RequestPlan& plan = plans[next];
        OfflineRecord& record = result.requests[next];
        record.prompt_len = plan.prompt_len;
        record.max_tokens = plan.max_tokens;
        GenerationParams params;
        params.has_prompt = true;
        params.prompt_ids = plan.prompt_ids;
        params.max_tokens = plan.max_tokens;
        params.ignore_eos = true;
        params.sampling.seed = plan.sampling_seed;
        auto sink = std::make_shared<TimingSink>(&record, &mu, &in_flight);
        ++in_flight;
        absl::StatusOr<std::shared_ptr<RequestHandle>> handle =
            scheduler.Submit(std::move(params), sink);
        if (!handle.ok()) return handle.status();
        handles.push_back(*std::move(handle));
        ++next;
      }
    }
    const SchedulerStats stats = scheduler.stats();
    result.max_running = std::max<int64_t>(result.max_running, stats.running);
    if (stats.waiting > 0 && stats.running > 0) {
      const double per_request = static_cast<double>(stats.kv_unused_slots) / stats.running;
      ++result.saturated_samples;
      unused_sum += per_request;
      result.max_unused_slots_per_request =
          std::max(result.max_unused_slots_per_request, per_request);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  result.duration_s = SecondsSince(t0);
  if (result.saturated_samples > 0) {
    result.mean_unused_slots_per_request = unused_sum / result.saturated_samples;
  }
  return result;
}

}  // namespace kvserve::bench
