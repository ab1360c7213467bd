#include "engine/sched/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/base/split_mix.h"
#include "engine/sched/logits_processors.h"
#include "engine/sched/output_text.h"

namespace kvserve {
namespace {

// Never 0: 0 means "server-chosen" in the API.
uint64_t SplitMixSeed(uint64_t x) {
  const uint64_t seed = SplitMix64(x);
  return seed == 0 ? 1 : seed;
}

// `to - from`, or zero if the clock stepped backwards.
absl::Duration Elapsed(absl::Time from, absl::Time to) {
  return std::max(to - from, absl::ZeroDuration());
}

}  // namespace

// One Submit: what its samples share. Owned by its samples (and the submission queue).
struct Scheduler::Request {
  RequestId id = 0;  // sample i's sequence is id + i
  GenerationParams params;
  StopCriteria stop;
  int32_t cached_prompt_tokens = 0;  // prompt tokens found in the prefix cache at first admission
  absl::Time deadline = absl::InfiniteFuture();
  std::shared_ptr<TokenSink> sink;
  std::shared_ptr<RequestHandle> handle;
  std::vector<Sample*> samples;   // the unfinished ones (sample 0 alone until the fork)
  int32_t completion_tokens = 0;  // every sample's
  int32_t longest_sample = 0;     // the most tokens one sample generated
  bool ended = false;             // the sink had its terminal call
  bool prompt_counted = false;    // prompt tokens added to the stats once, not per recomputation
  bool admitted = false;          // admitted into a batch at least once
  bool forked = false;            // samples 1..n-1 exist
  std::vector<TokenLogprobs> prompt_logprobs;  // with params.prompt_logprobs, as computed
  bool prompt_logprobs_sent = false;
  absl::Time submitted_at;    // the clock in Submit
  absl::Time first_token_at;  // when its first token was sampled (if completion_tokens > 0)
  absl::Time last_token_at;   // when its latest token was sampled
};

// One sample's progress (Sequence: id, tokens, progress, chunk) and output.
struct Scheduler::Sample final : Sequence {
  Sample(std::shared_ptr<Request> r, int32_t i, const Tokenizer* tokenizer,
         const ModelConfig& config)
      : request(std::move(r)),
        index(i),
        sampling(MakeRequestSampling(request->params, config)),
        text(tokenizer, &request->params.stop_strings, request->params.include_stop_str_in_output) {
    id = request->id + i;
    if (i > 0) sampling.params.seed = SampleSeed(sampling.params.seed, i);
  }
  // Sample i's seed stream: sample 0 uses the request's seed, the others a mix of it and i.
  static uint64_t SampleSeed(uint64_t seed, int32_t i) {
    return SplitMixSeed(seed + static_cast<uint64_t>(i) * kSplitMixGamma);
  }
  bool done() const { return finished || request->ended; }

  const std::shared_ptr<Request> request;
  const int32_t index;
  RequestSampling sampling;  // the request's, with this sample's seed and its own penalty state
  OutputText text;
  bool finished = false;  // its last token was streamed
};

Scheduler::Sample& Scheduler::AsSample(Sequence& sequence) {
  return static_cast<Sample&>(sequence);  // every Sequence the scheduler holds is a Sample
}

absl::Status SchedulerOptions::Validate() const {
  if (page_size <= 0 || max_num_seqs <= 0 || max_batched_tokens <= 0 || max_waiting <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size, max_num_seqs, max_batched_tokens and max_waiting must be > 0; got ", page_size,
        ", ", max_num_seqs, ", ", max_batched_tokens, ", ", max_waiting));
  }
  if (num_pages < 0 || (num_pages == 0 && kv_cache_bytes <= 0)) {
    return absl::InvalidArgumentError("give num_pages > 0 or kv_cache_bytes > 0");
  }
  if (max_prompt_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_prompt_tokens must be >= 0 (0 = the model's context); got ", max_prompt_tokens));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(std::unique_ptr<StepEngine> engine,
                                                             SchedulerOptions options,
                                                             Clock clock) {
  if (engine == nullptr) return absl::InvalidArgumentError("Scheduler needs an engine");
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  const int32_t context = engine->config().max_context;
  if (options.max_prompt_tokens > context) {
    return absl::InvalidArgumentError(absl::StrCat("max_prompt_tokens ", options.max_prompt_tokens,
                                                   " is more than the model's context of ",
                                                   context));
  }
  if (options.max_prompt_tokens == 0) options.max_prompt_tokens = context;
  const PageGeometry geometry = engine->KvGeometry(options.page_size);
  if (absl::Status s = geometry.Validate(); !s.ok()) return s;
  if (options.num_pages == 0) {
    options.num_pages = PagePool::PagesForBytes(geometry, options.kv_cache_bytes);
    if (options.num_pages == 0) {
      return absl::InvalidArgumentError(absl::StrCat("kv_cache_bytes ", options.kv_cache_bytes,
                                                     " is less than one page (",
                                                     geometry.page_bytes(), " bytes)"));
    }
  }
  absl::StatusOr<std::unique_ptr<PagePool>> pool = PagePool::Create(geometry, options.num_pages);
  if (!pool.ok()) return pool.status();
  auto cache = std::make_unique<BatchingKvCache>(*std::move(pool), options.enable_prefix_caching);
  return std::unique_ptr<Scheduler>(
      new Scheduler(std::move(engine), std::move(cache), options, std::move(clock)));
}

Scheduler::Scheduler(std::unique_ptr<StepEngine> engine, std::unique_ptr<BatchingKvCache> cache,
                     SchedulerOptions options, Clock clock)
    : engine_(std::move(engine)),
      cache_(std::move(cache)),
      options_(options),
      clock_(std::move(clock)),
      stats_accumulator_(StepStats{.free_pages = cache_->pool().free_pages(),
                                   .total_pages = cache_->pool().total_pages()}),
      cancel_epoch_(std::make_shared<std::atomic<int64_t>>(0)),
      planner_(options_.max_num_seqs, options_.max_batched_tokens, options_.admission_policy) {
  observers_.Add(&stats_accumulator_);
  observers_.Add(options_.observer.get());
  running_.reserve(options_.max_num_seqs);
  plan_.chunks.reserve(options_.max_num_seqs);
  plan_.sequences.reserve(options_.max_num_seqs);
  batch_tokens_.reserve(options_.max_batched_tokens);
  terminal_calls_.reserve(options_.max_num_seqs);
}

Scheduler::~Scheduler() { Shutdown(absl::ZeroDuration()); }

absl::StatusOr<std::shared_ptr<RequestHandle>> Scheduler::Submit(GenerationParams params,
                                                                 std::shared_ptr<TokenSink> sink,
                                                                 absl::Time deadline) {
  if (sink == nullptr) return absl::InvalidArgumentError("a request needs a sink");
  const ModelConfig& config = engine_->config();
  const ServingLimits limits{.max_prompt_tokens = options_.max_prompt_tokens,
                             .page_size = options_.page_size,
                             .total_pages = cache_->pool().total_pages()};
  if (absl::Status s = ValidateGenerationParams(params, config, limits); !s.ok()) return s;
  if (!params.stop_strings.empty() && options_.tokenizer == nullptr) {
    return absl::InvalidArgumentError(
        "stop: this scheduler has no tokenizer to match stop strings against");
  }
  if (params.n == 0) params.n = 1;
  auto request = std::make_shared<Request>();
  request->stop = MakeStopCriteria(params, config);
  request->params = std::move(params);
  request->deadline = deadline;
  request->sink = std::move(sink);
  request->handle = std::make_shared<RequestHandle>(cancel_epoch_);
  request->submitted_at = clock_();
  std::shared_ptr<RequestHandle> handle = request->handle;

  absl::MutexLock lock(&mu_);
  if (!accepting_) return absl::UnavailableError("server is shutting down");
  if (queued_ >= options_.max_waiting) {
    return absl::ResourceExhaustedError(
        absl::StrCat("waiting queue is full (", options_.max_waiting, " requests); retry later"));
  }
  request->id = next_id_;
  next_id_ += request->params.n;  // one sequence id per sample
  if (request->params.sampling.seed == 0) {
    // "0 = server-chosen": any fixed per-request value keeps the stream self-consistent.
    request->params.sampling.seed =
        SplitMixSeed(static_cast<uint64_t>(request->id) ^
                     static_cast<uint64_t>(absl::ToUnixNanos(request->submitted_at)));
  }
  auto first = std::make_unique<Sample>(request, 0, options_.tokenizer.get(), config);
  first->tokens = request->params.prompt_ids;
  first->tokens.reserve(request->params.prompt_ids.size() + request->params.max_tokens);
  first->prompt_len = static_cast<int32_t>(request->params.prompt_ids.size());
  if (request->params.prompt_logprobs.has_value()) first->all_logits_until = first->prompt_len;
  request->samples.push_back(first.get());
  submitted_.push_back(std::move(first));
  ++queued_;
  return handle;
}

void Scheduler::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stop_) return;
  // The initial state, before the thread exists, so that a monitor knows the pool at once.
  StepStats initial;
  initial.waiting = queued_;  // submitted + waiting
  initial.free_pages = cache_->pool().free_pages();
  initial.total_pages = cache_->pool().total_pages();
  observers_.OnStep(initial);
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Shutdown(absl::Duration drain) {
  {
    absl::MutexLock lock(&mu_);
    accepting_ = false;
    if (!stop_) {
      stop_ = true;
      drain_deadline_ = clock_() + drain;
    }
  }
  if (thread_.joinable()) thread_.join();
  // Without a thread (tests driving Step()), or if the loop ended early: end whatever is left.
  TakeSubmissions();
  now_ = clock_();
  step_stats_ = StepStats();
  for (auto& s : running_) {
    FailRequest(*AsSample(*s).request, absl::UnavailableError("server is shutting down"));
  }
  for (auto& s : waiting_) {
    FailRequest(*AsSample(*s).request, absl::UnavailableError("server is shutting down"));
  }
  running_.clear();
  waiting_.clear();
  FillStepState();
  observers_.OnStep(step_stats_);
  DeliverTerminalCalls();
}

void Scheduler::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (running_.empty() && waiting_.empty()) {
        auto has_input = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return !submitted_.empty() || stop_;
        };
        mu_.Await(absl::Condition(&has_input));
        if (stop_ && submitted_.empty()) return;
      }
      if (stop_ && clock_() >= drain_deadline_) return;  // Shutdown() fails what is left
    }
    if (!Step()) {
      // Work is queued but none could be planned (should not last): wait briefly for news.
      absl::MutexLock lock(&mu_);
      auto news = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !submitted_.empty() || stop_; };
      mu_.AwaitWithTimeout(absl::Condition(&news), absl::Milliseconds(1));
    }
  }
}

bool Scheduler::Step() {
  TakeSubmissions();
  now_ = clock_();
  const absl::Time start = now_;
  step_stats_ = StepStats();
  EndCancelledAndExpired();
  RemoveEnded();  // so that planning never picks an ended request (e.g. as a preemption victim)
  Plan();
  const bool planned = !plan_.empty();
  if (planned) {
    Update(Execute());  // Execute moves now_ to when the logits were ready
    step_stats_.duration = Elapsed(start, now_);
  }
  RemoveEnded();
  FillStepState();
  observers_.OnStep(step_stats_);
  DeliverTerminalCalls();
  return planned;
}

void Scheduler::TakeSubmissions() {
  absl::MutexLock lock(&mu_);
  for (auto& r : submitted_) {
    earliest_waiting_deadline_ =
        std::min(earliest_waiting_deadline_, AsSample(*r).request->deadline);
    waiting_.push_back(std::move(r));
  }
  submitted_.clear();
  queued_ = static_cast<int32_t>(waiting_.size());
}

void Scheduler::EndCancelledAndExpired() {
  const int64_t epoch = cancel_epoch_->load(std::memory_order_acquire);
  const bool any_cancelled = epoch != seen_cancel_epoch_;
  seen_cancel_epoch_ = epoch;
  const absl::Time now = now_;
  auto check = [&](Sample& sample) {
    if (sample.done()) return;
    Request& r = *sample.request;
    if (any_cancelled && r.handle->cancelled()) {
      FailRequest(r, absl::CancelledError("request cancelled"));
    } else if (now >= r.deadline) {
      FailRequest(r, absl::DeadlineExceededError("request deadline exceeded"));
    }
  };
  for (auto& s : running_) check(AsSample(*s));
  // The waiting queue is scanned only when something in it may have ended (a cancellation, or
  // the earliest deadline passed), so a step costs O(batch), not O(queue).
  if (!any_cancelled && now < earliest_waiting_deadline_) return;
  earliest_waiting_deadline_ = absl::InfiniteFuture();
  for (auto& s : waiting_) {
    Sample& sample = AsSample(*s);
    check(sample);
    if (!sample.done()) {
      earliest_waiting_deadline_ = std::min(earliest_waiting_deadline_, sample.request->deadline);
    }
  }
  std::erase_if(waiting_, [](const std::unique_ptr<Sequence>& s) { return AsSample(*s).done(); });
}

void Scheduler::Plan() {
  planner_.Plan(running_, waiting_, *cache_, &plan_);
  for (Sequence* s : plan_.preempted) {
    const Sample& victim = AsSample(*s);
    observers_.OnPreemption();
    earliest_waiting_deadline_ = std::min(earliest_waiting_deadline_, victim.request->deadline);
  }
  for (Sequence* s : plan_.admitted) {
    Request& r = *AsSample(*s).request;
    if (r.admitted) continue;  // readmitted after a preemption (or a fork): counted the first time
    r.admitted = true;
    r.cached_prompt_tokens = std::min(s->num_computed, s->prompt_len);
    step_stats_.num_cached_prompt_tokens += r.cached_prompt_tokens;
    observers_.OnRequestAdmitted(Elapsed(r.submitted_at, now_));
  }
  step_stats_.num_seqs = static_cast<int32_t>(plan_.sequences.size());
  step_stats_.num_decode_tokens = plan_.num_decode_tokens;
  step_stats_.num_prefill_tokens = plan_.num_prefill_tokens;
}

absl::StatusOr<absl::Span<const float>> Scheduler::Execute() {
  batch_tokens_.clear();
  for (const Sequence* s : plan_.sequences) {
    batch_tokens_.insert(batch_tokens_.end(), s->tokens.begin() + s->num_computed,
                         s->tokens.begin() + s->num_computed + s->chunk);
  }
  const absl::Status built = cache_->BuildBatchInto(plan_.chunks, &attention_batch_);
  absl::StatusOr<absl::Span<const float>> logits =
      built.ok() ? engine_->Step(*cache_, attention_batch_, batch_tokens_)
                 : absl::StatusOr<absl::Span<const float>>(built);
  now_ = clock_();
  return logits;
}

void Scheduler::Update(absl::StatusOr<absl::Span<const float>> logits) {
  if (!logits.ok()) {
    const absl::Status error =
        absl::InternalError(absl::StrCat("engine step failed: ", logits.status().message()));
    for (Sequence* s : plan_.sequences) FailRequest(*AsSample(*s).request, error);
    return;
  }
  const int32_t vocab = engine_->config().vocab_size;
  forked_.clear();
  for (size_t i = 0; i < plan_.sequences.size(); ++i) {
    Sample& s = AsSample(*plan_.sequences[i]);
    Request& r = *s.request;
    const BatchSequence& rows = attention_batch_.sequences[i];
    if (rows.all_logits) {
      // Entries for prompt tokens 1..num_computed exist; after a preemption the prompt is
      // recomputed from 0 and they are computed again (the same values).
      r.prompt_logprobs.resize(std::min<size_t>(r.prompt_logprobs.size(), s.num_computed));
      AppendPromptLogprobs(
          logits->subspan(int64_t{rows.logit_offset} * vocab, int64_t{rows.q_len} * vocab), vocab,
          r.params.prompt_ids, s.num_computed, *r.params.prompt_logprobs, &sampler_scratch_,
          &r.prompt_logprobs);
      // Once: a recomputation after a preemption wants no logits again.
      if (s.num_computed + s.chunk >= s.all_logits_until) s.all_logits_until = 0;
    }
    if (!r.prompt_counted && s.num_computed + s.chunk >= s.prompt_len) {
      step_stats_.num_prompt_tokens += s.prompt_len;
      r.prompt_counted = true;
    }
    s.num_computed += s.chunk;
    s.chunk = 0;
    if (cache_->prefix_caching()) {
      (void)cache_->CommitTokens(s.id, absl::MakeConstSpan(s.tokens).first(s.num_computed));
    }
    if (s.pending() > 0) continue;  // a prefill chunk short of the end: no token yet
    const absl::Span<const float> row =
        logits->subspan((int64_t{rows.logit_offset} + rows.num_logit_rows() - 1) * vocab, vocab);
    if (!r.forked && r.params.n > 1) {
      ForkSamples(s, row);
      if (r.ended) continue;  // the fork failed
    }
    SampleAndStream(s, row);
  }
  for (auto& child : forked_) running_.push_back(std::move(child));
  forked_.clear();
}

void Scheduler::ForkSamples(Sample& first, absl::Span<const float> logits) {
  Request& r = *first.request;
  r.forked = true;
  for (int32_t i = 1; i < r.params.n; ++i) {
    auto child =
        std::make_unique<Sample>(first.request, i, options_.tokenizer.get(), engine_->config());
    if (absl::Status forked = cache_->Fork(first.id, child->id); !forked.ok()) {
      FailRequest(r, absl::InternalError(
                         absl::StrCat("forking sample ", i, " failed: ", forked.message())));
      return;
    }
    child->tokens = first.tokens;  // the prompt: the first sample has sampled nothing yet
    child->tokens.reserve(first.tokens.capacity());
    child->prompt_len = first.prompt_len;
    child->num_computed = first.num_computed;
    r.samples.push_back(child.get());
    SampleAndStream(*child, logits);
    forked_.push_back(std::move(child));
  }
}

void Scheduler::SampleAndStream(Sample& s, absl::Span<const float> logits) {
  Request& r = *s.request;
  const bool want_logprobs = r.params.logprobs.has_value();
  const int32_t token = SampleNextToken(logits, s.sampling, s.num_generated(), &sampler_scratch_,
                                        want_logprobs ? &token_logprobs_ : nullptr);
  s.sampling.Accept(token);
  s.tokens.push_back(token);
  ++r.completion_tokens;
  r.longest_sample = std::max(r.longest_sample, s.num_generated());
  ++step_stats_.num_generated_tokens;
  r.last_token_at = now_;
  if (r.completion_tokens == 1) {
    r.first_token_at = now_;
    observers_.OnFirstToken(Elapsed(r.submitted_at, now_));
  }
  SampleOutput out{.index = s.index, .token = token};
  if (want_logprobs) out.logprobs = &token_logprobs_;
  if (!r.prompt_logprobs_sent && r.params.prompt_logprobs.has_value()) {
    out.prompt_logprobs = r.prompt_logprobs;
    r.prompt_logprobs_sent = true;
  }
  out.finish = CheckStop(token, s.num_generated(), r.stop);
  text_.clear();
  if (out.finish == FinishReason::kStop) {
    out.stop_token_id = token;  // EOS or a stop id: no text of its own
    s.text.Finish(&text_);
  } else {
    // Like EOS and stop ids (masked by the sampler), stop strings wait for min_tokens.
    out.stop_string =
        s.text.Add(token, /*check_stops=*/s.num_generated() >= r.params.min_tokens, &text_);
    if (out.stop_string >= 0) {
      out.finish = FinishReason::kStop;
    } else if (out.finish != FinishReason::kNone) {
      s.text.Finish(&text_);
    }
  }
  out.text = text_;
  r.sink->OnOutput(out);
  if (out.finish != FinishReason::kNone) FinishSample(s, out.finish);
}

void Scheduler::FinishSample(Sample& sample, FinishReason reason) {
  sample.finished = true;
  (void)cache_->RemoveRequest(sample.id);
  Request& r = *sample.request;
  std::erase(r.samples, &sample);
  if (!r.samples.empty() || r.ended) return;
  r.ended = true;
  ObserveEnd(r, absl::StatusCode::kOk, reason);
  terminal_calls_.push_back(
      {.sink = r.sink,
       .status = absl::OkStatus(),
       .usage = {.prompt_tokens = static_cast<int32_t>(r.params.prompt_ids.size()),
                 .completion_tokens = r.completion_tokens,
                 .cached_prompt_tokens = r.cached_prompt_tokens}});
}

void Scheduler::FailRequest(Request& request, const absl::Status& status) {
  if (request.ended) return;
  request.ended = true;
  for (Sample* s : request.samples) {
    if (cache_->Contains(s->id)) (void)cache_->RemoveRequest(s->id);
  }
  ObserveEnd(request, status.code(), FinishReason::kNone);
  terminal_calls_.push_back({.sink = request.sink, .status = status});
}

void Scheduler::ObserveEnd(const Request& request, absl::StatusCode code, FinishReason reason) {
  RequestEndStats end;
  end.code = code;
  end.finish_reason = reason;
  end.prompt_tokens = static_cast<int32_t>(request.params.prompt_ids.size());
  end.completion_tokens = request.completion_tokens;
  end.e2e_latency = Elapsed(request.submitted_at, now_);
  if (request.longest_sample >= 2) {
    end.time_per_output_token =
        Elapsed(request.first_token_at, request.last_token_at) / (request.longest_sample - 1);
  }
  observers_.OnRequestEnded(end);
}

void Scheduler::DeliverTerminalCalls() {
  for (TerminalCall& call : terminal_calls_) {
    if (call.status.ok()) {
      call.sink->OnFinish(call.usage);
    } else {
      call.sink->OnError(call.status);
    }
  }
  terminal_calls_.clear();
}

void Scheduler::RemoveEnded() {
  std::erase_if(running_, [](const std::unique_ptr<Sequence>& s) { return AsSample(*s).done(); });
}

void Scheduler::FillStepState() {
  step_stats_.running = static_cast<int32_t>(running_.size());
  step_stats_.free_pages = cache_->pool().free_pages();
  step_stats_.cached_pages = cache_->cached_pages();
  step_stats_.total_pages = cache_->pool().total_pages();
  step_stats_.shared_pages = cache_->pool().shared_pages();
  step_stats_.kv_tokens = 0;
  step_stats_.kv_unused_slots = 0;
  for (const auto& s : running_) {  // O(running), like the step itself
    const int32_t length = cache_->Length(s->id);
    step_stats_.kv_tokens += length;
    step_stats_.kv_unused_slots +=
        static_cast<int64_t>(cache_->PageTable(s->id).size()) * cache_->page_size() - length;
  }
  absl::MutexLock lock(&mu_);
  step_stats_.waiting = static_cast<int32_t>(waiting_.size() + submitted_.size());
}

SchedulerStats Scheduler::stats() const { return stats_accumulator_.Snapshot(); }

}  // namespace kvserve
