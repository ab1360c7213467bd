#include "clients/kvload/load_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace kvserve::load {
namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point After(Clock::time_point t, double seconds) {
  return t + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// How long aborted streams may take to report their end.
constexpr double kAbortGraceSeconds = 30;

class Runner final : public GenerateCallObserver {
 public:
  Runner(const LoadOptions& options, ChannelPool& pool, ProgressLine* progress)
      : options_(options), pool_(pool), progress_(progress) {}

  // With options.openai: the HTTP client the requests go through instead of gRPC.
  absl::Status ConnectHttp() {
    if (!options_.openai.has_value()) return absl::OkStatus();
    absl::StatusOr<std::unique_ptr<OpenAiStreamClient>> client = OpenAiStreamClient::Create(
        *options_.openai,
        [this](int64_t tag, GenerateRecord record) {
          Finish(tag, std::move(record));
          std::lock_guard<std::mutex> lock(mu_);
          --undeleted_;  // nothing outlives an HTTP stream's end
          cv_.notify_one();
        },
        [this](int64_t tokens) { tokens_.fetch_add(tokens, std::memory_order_relaxed); });
    if (!client.ok()) return client.status();
    http_ = *std::move(client);
    return absl::OkStatus();
  }

  absl::StatusOr<RunResult> Run();

  bool OnResponse(GenerateCall&, const v1::GenerateResponse& response) override {
    tokens_.fetch_add(response.token_ids_size(), std::memory_order_relaxed);
    return true;
  }

  void OnCallDone(GenerateCall& call, GenerateRecord record) override {
    Finish(call.tag(), std::move(record));
  }

  void Finish(int64_t tag, GenerateRecord record) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = live_.find(tag);
    if (it->second.channel >= 0) pool_.Release(it->second.channel);
    RequestRecord done = ToRequestRecord(std::move(it->second.planned), record, zero_);
    live_.erase(it);
    if (done.outcome == Outcome::kError) ++errors_;
    records_.push_back(std::move(done));
    cv_.notify_one();
  }

  void OnCallDeleted() override {
    std::lock_guard<std::mutex> lock(mu_);
    --undeleted_;
    cv_.notify_one();
  }

 private:
  ProgressSnapshot Snapshot() const;  // requires mu_
  // Waits (showing progress) until no stream is in flight or `until`; true if none is.
  bool WaitForIdle(std::unique_lock<std::mutex>& lock, Clock::time_point until);

  // A call in flight: its gRPC call and channel (none over HTTP), and the plan's fields of its
  // record.
  struct LiveCall {
    GenerateCall* call = nullptr;
    int channel = -1;
    RequestRecord planned;
  };

  const LoadOptions& options_;
  ChannelPool& pool_;
  ProgressLine* const progress_;
  Clock::time_point zero_;  // the run's start; set before the first call starts
  std::atomic<int64_t> tokens_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  absl::flat_hash_map<int64_t, LiveCall> live_;  // by the plan's index; guarded by mu_
  std::vector<RequestRecord> records_;           // guarded by mu_
  int64_t errors_ = 0;                           // guarded by mu_
  // Calls created and not yet deleted: Run waits for none before it returns, since a call's
  // ClientContext is destroyed (and OnCallDeleted called) just after its OnCallDone.
  int64_t undeleted_ = 0;                     // guarded by mu_
  std::unique_ptr<OpenAiStreamClient> http_;  // with options_.openai
};

ProgressSnapshot Runner::Snapshot() const {
  ProgressSnapshot s;
  s.done = static_cast<int64_t>(records_.size());
  s.total = options_.workload.num_requests;
  s.tokens = tokens_.load(std::memory_order_relaxed);
  s.errors = errors_;
  s.in_flight = static_cast<int64_t>(live_.size());
  s.elapsed_s = std::chrono::duration<double>(Clock::now() - zero_).count();
  s.duration_s = options_.duration_s;
  return s;
}

bool Runner::WaitForIdle(std::unique_lock<std::mutex>& lock, Clock::time_point until) {
  while (!live_.empty()) {
    const Clock::time_point now = Clock::now();
    if (now >= until) return false;
    cv_.wait_until(lock, std::min(until, now + ProgressLine::kMinInterval));
    if (progress_ != nullptr) progress_->Update(Snapshot());
  }
  return true;
}

absl::StatusOr<RunResult> Runner::Run() {
  zero_ = Clock::now();
  const Clock::time_point zero = zero_;
  const Clock::time_point hard_end = After(zero, options_.max_seconds);
  const Clock::time_point issue_end =
      options_.duration_s > 0 ? std::min(hard_end, After(zero, options_.duration_s)) : hard_end;
  const size_t cap = options_.concurrency > 0 ? static_cast<size_t>(options_.concurrency)
                                              : std::numeric_limits<size_t>::max();

  WorkloadGenerator generator(options_.workload);
  std::optional<RequestPlan> next;
  std::unique_lock<std::mutex> lock(mu_);
  // Each pass starts one request or waits for a bounded time; it ends at issue_end at the latest.
  while (true) {
    const Clock::time_point now = Clock::now();
    if (now >= issue_end) break;
    if (!next.has_value()) {
      if (!generator.HasNext()) break;
      next = generator.Next();
    }
    const Clock::time_point due = After(zero, next->arrival_s);
    if (live_.size() >= cap || now < due) {
      Clock::time_point wake = std::min(issue_end, now + ProgressLine::kMinInterval);
      if (now < due) wake = std::min(wake, due);
      cv_.wait_until(lock, wake);
      if (progress_ != nullptr) progress_->Update(Snapshot());
      continue;
    }
    const v1::GenerateRequest request = MakeGenerateRequest(*next, options_.call);
    const GenerateCallOptions call_options = MakeCallOptions(*next, options_.call);
    ++undeleted_;
    if (http_ != nullptr) {
      live_.emplace(next->index, LiveCall{.planned = PlannedRecord(*next)});
      next.reset();
      lock.unlock();
      http_->Start(request, call_options);
    } else {
      const int channel = pool_.Acquire();
      GenerateCall* call = GenerateCall::Create(request, call_options, this);
      live_.emplace(next->index,
                    LiveCall{.call = call, .channel = channel, .planned = PlannedRecord(*next)});
      next.reset();
      lock.unlock();
      call->Start(pool_.stub(channel));
    }
    lock.lock();
    if (progress_ != nullptr) progress_->Update(Snapshot());
  }

  // Let the streams in flight finish: until the drain ends (time-bounded runs) or the hard end.
  const bool timed_out = options_.duration_s > 0 && Clock::now() >= issue_end;
  const Clock::time_point drain_end =
      timed_out ? std::min(hard_end, After(Clock::now(), options_.drain_seconds)) : hard_end;
  if (!WaitForIdle(lock, drain_end)) {
    // Abort may run stream callbacks inline, and OnCallDone takes mu_: abort without it, holding
    // a reference to each call so that none is deleted under us.
    std::vector<GenerateCall*> to_abort;
    for (const auto& [tag, live] : live_) {
      if (live.call == nullptr) continue;
      live.call->Ref();
      to_abort.push_back(live.call);
    }
    lock.unlock();
    if (http_ != nullptr) http_->AbortAll();
    for (GenerateCall* call : to_abort) {
      call->Abort();
      call->Unref();
    }
    lock.lock();
    if (!WaitForIdle(lock, After(Clock::now(), kAbortGraceSeconds))) {
      return absl::DeadlineExceededError(absl::StrCat(live_.size(), " streams did not end within ",
                                                      kAbortGraceSeconds, " s of cancelling"));
    }
  }
  // Every call has ended; their deletions follow at once (see undeleted_).
  cv_.wait_until(lock, After(Clock::now(), kAbortGraceSeconds), [this] { return undeleted_ == 0; });
  if (progress_ != nullptr) {
    progress_->Update(Snapshot(), /*force=*/true);
    progress_->Finish();
  }

  RunResult result;
  result.requests = std::move(records_);
  std::sort(result.requests.begin(), result.requests.end(),
            [](const RequestRecord& a, const RequestRecord& b) { return a.index < b.index; });
  double first = std::numeric_limits<double>::infinity();
  double last = 0;
  for (const RequestRecord& r : result.requests) {
    first = std::min(first, r.start_s);
    last = std::max(last, r.start_s + r.end_s);
  }
  result.duration_s = result.requests.empty() ? 0 : last - first;
  return result;
}

}  // namespace

absl::Status ValidateLoad(const LoadOptions& o) {
  if (absl::Status s = ValidateWorkload(o.workload); !s.ok()) return s;
  if (o.concurrency < 0) return absl::InvalidArgumentError("concurrency must be >= 0");
  if (o.concurrency == 0 && std::isinf(o.workload.rate)) {
    return absl::InvalidArgumentError("give --concurrency (closed loop) or --rate (open loop)");
  }
  if (o.workload.num_requests == 0 && !(o.duration_s > 0)) {
    return absl::InvalidArgumentError("give --num_requests or --duration (or both)");
  }
  if (o.duration_s < 0 || o.drain_seconds < 0 || !(o.max_seconds > 0)) {
    return absl::InvalidArgumentError("duration and drain must be >= 0, max_seconds > 0");
  }
  if (o.call.deadline_ms < 0) return absl::InvalidArgumentError("deadline_ms must be >= 0");
  if (!(o.call.temperature >= 0) || std::isinf(o.call.temperature)) {
    return absl::InvalidArgumentError("temperature must be finite and >= 0");
  }
  if (o.call.n < 1 || o.call.n > 16) return absl::InvalidArgumentError("n must be in [1, 16]");
  if (o.call.stop.size() > 16) return absl::InvalidArgumentError("at most 16 stop strings");
  for (const std::string& stop : o.call.stop) {
    if (stop.empty() || stop.size() > 256) {
      return absl::InvalidArgumentError("a stop string must have 1 to 256 bytes");
    }
  }
  if (o.call.chat && !o.workload.prompt_text) {
    return absl::InvalidArgumentError("chat requests need text prompts (prompt_text)");
  }
  return absl::OkStatus();
}

absl::StatusOr<RunResult> RunLoad(const LoadOptions& options, ChannelPool& pool,
                                  ProgressLine* progress) {
  if (absl::Status s = ValidateLoad(options); !s.ok()) return s;
  // Leaked on failure: streams gRPC still holds would call back into a freed runner.
  auto* runner = new Runner(options, pool, progress);
  if (absl::Status s = runner->ConnectHttp(); !s.ok()) {
    delete runner;
    return s;
  }
  absl::StatusOr<RunResult> result = runner->Run();
  if (result.ok()) delete runner;
  return result;
}

}  // namespace kvserve::load
