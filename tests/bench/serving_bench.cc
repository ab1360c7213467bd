// Serving benchmarks: whole workloads through the Scheduler (and the gRPC server), each printing
// the ratio its target is about, measured in one run.
//
//   kvbench serve-compare   continuous vs static batching on a mixed-length workload, plus KV
//                           waste at saturation (allocated-but-unused slots per running request)
//   kvbench prefix-cache    TTFT with vs without prefix caching, prompts sharing a long prefix
//   kvbench server-overhead the same closed-loop workload through the gRPC server on loopback
//                           (kvload's client) vs straight into the scheduler in-process
//
// Workloads come from kvload's WorkloadGenerator (same seed → same requests), see offline_load.h.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/kvload/load_runner.h"
#include "engine/serving/engine_stack.h"
#include "engine/serving/model_source.h"
#include "server/kv_server.h"
#include "server/metrics.h"
#include "tests/bench/bench_common.h"
#include "tests/bench/offline_load.h"
#include "tests/bench/static_batch_admission.h"

ABSL_FLAG(
    std::string, serve_model, "tiny",
    "serving benchmarks: embedded model preset (or checkpoint directory, as kvserve --model)");
ABSL_FLAG(int64_t, serve_requests, 256, "serving benchmarks: requests in the workload");
ABSL_FLAG(std::string, serve_prompt, "32:512", "serving benchmarks: prompt length range lo:hi");
ABSL_FLAG(std::string, serve_output, "16:256", "serving benchmarks: output length range lo:hi");
ABSL_FLAG(int32_t, serve_max_num_seqs, 64, "serving benchmarks: scheduler max_num_seqs");
ABSL_FLAG(int32_t, serve_max_batched_tokens, 512, "serving benchmarks: scheduler token budget");
ABSL_FLAG(int64_t, serve_kv_cache_mib, 1024, "serving benchmarks: KV cache size in MiB");
ABSL_FLAG(int32_t, serve_concurrency, 0,
          "serving benchmarks: most requests in flight (0 = all at once; server-overhead: 64)");
ABSL_FLAG(double, serve_rate, 0,
          "serving benchmarks: Poisson arrivals per second (0 = closed loop)");
ABSL_FLAG(int32_t, prefix_shared, 512, "kvbench prefix-cache: shared prefix tokens");
ABSL_FLAG(uint64_t, serve_seed, 7, "serving benchmarks: workload seed");

namespace kvserve::bench {
namespace {

struct Setup {
  LoadedModel model;  // loaded once; every run builds its own EngineStack on it
  SchedulerOptions options;
  load::WorkloadOptions workload;
};

absl::StatusOr<Setup> MakeSetup() {
  Setup setup;
  auto model = LoadModel(absl::GetFlag(FLAGS_serve_model));
  if (!model.ok()) return model.status();
  setup.model = *std::move(model);
  setup.options.page_size = absl::GetFlag(FLAGS_page_size);
  setup.options.kv_cache_bytes = absl::GetFlag(FLAGS_serve_kv_cache_mib) << 20;
  setup.options.max_num_seqs = absl::GetFlag(FLAGS_serve_max_num_seqs);
  setup.options.max_batched_tokens = absl::GetFlag(FLAGS_serve_max_batched_tokens);
  setup.options.max_waiting = 1 << 20;
  load::WorkloadOptions& w = setup.workload;
  w.num_requests = absl::GetFlag(FLAGS_serve_requests);
  auto prompt = load::LengthRange::Parse(absl::GetFlag(FLAGS_serve_prompt));
  if (!prompt.ok()) return prompt.status();
  auto output = load::LengthRange::Parse(absl::GetFlag(FLAGS_serve_output));
  if (!output.ok()) return output.status();
  w.prompt_len = *prompt;
  w.max_tokens = *output;
  if (absl::GetFlag(FLAGS_serve_rate) > 0) w.rate = absl::GetFlag(FLAGS_serve_rate);
  w.seed = absl::GetFlag(FLAGS_serve_seed);
  if (absl::Status s = load::ValidateWorkload(w); !s.ok()) return s;
  if (w.num_requests <= 0) return absl::InvalidArgumentError("--serve_requests must be > 0");
  return setup;
}

EngineStackOptions EngineOptions(const SchedulerOptions& options) {
  return {.scheduler = options, .threads = absl::GetFlag(FLAGS_threads)};
}

// Static batching as a static-shape runner (Hugging Face generate, FasterTransformer) does it:
// requests grouped in arrival order into batches of `batch` requests, every prompt left-padded
// to its batch's longest and every request decoding until its batch's longest output. Only the
// requested tokens are useful; the padding is computed and thrown away.
std::vector<load::RequestPlan> PadToStaticBatches(std::vector<load::RequestPlan> plans,
                                                  int32_t batch, int32_t pad_token) {
  for (size_t begin = 0; begin < plans.size(); begin += batch) {
    const size_t end = std::min(plans.size(), begin + batch);
    int32_t longest_prompt = 0, longest_output = 0;
    for (size_t i = begin; i < end; ++i) {
      longest_prompt = std::max(longest_prompt, plans[i].prompt_len);
      longest_output = std::max(longest_output, plans[i].max_tokens);
    }
    for (size_t i = begin; i < end; ++i) {
      plans[i].prompt_ids.insert(plans[i].prompt_ids.begin(), longest_prompt - plans[i].prompt_len,
                                 pad_token);
      plans[i].prompt_len = longest_prompt;
      plans[i].max_tokens = longest_output;
    }
  }
  return plans;
}

int64_t RequestedTokens(const std::vector<load::RequestPlan>& plans) {
  int64_t n = 0;
  for (const load::RequestPlan& p : plans) n += p.max_tokens;
  return n;
}

// Runs the plans in-process with `options`; prints its figures under `prefix`.
absl::StatusOr<OfflineResult> RunAndReport(const Setup& setup,
                                           const std::vector<load::RequestPlan>& plans,
                                           const SchedulerOptions& options, int32_t concurrency,
                                           const std::string& prefix, KeyValuePrinter& out) {
  auto stack = EngineStack::Create(setup.model, EngineOptions(options));
  if (!stack.ok()) return stack.status();
  Scheduler& scheduler = stack->scheduler();
  scheduler.Start();
  auto result = RunOffline(scheduler, plans, concurrency);
  scheduler.Shutdown(absl::Seconds(5));
  if (!result.ok()) return result.status();
  const SchedulerStats stats = scheduler.stats();
  out.Add(prefix + "_seconds", result->duration_s);
  out.Add(prefix + "_tok_s", result->tokens_per_second());  // every token generated
  out.Add(prefix + "_ttft_p50_ms", 1e3 * result->Ttft().p50);
  out.Add(prefix + "_ttft_p99_ms", 1e3 * result->Ttft().p99);
  out.Add(prefix + "_failures", result->failures());
  out.Add(prefix + "_preemptions", stats.preemptions);
  out.Add(prefix + "_cached_prompt_tokens", stats.cached_prompt_tokens);
  out.Add(prefix + "_pages_leaked", stats.total_pages - stats.free_pages);
  if (result->failures() > 0) {
    return absl::InternalError(
        absl::StrCat(prefix, ": ", result->failures(), " requests failed or came back short"));
  }
  return result;
}

void PrintWorkload(const Setup& setup, KeyValuePrinter& out) {
  out.Add("model", setup.model.weights->config.name);
  out.Add("threads", omp_get_max_threads());
  out.Add("requests", setup.workload.num_requests);
  out.Add("prompt_len", setup.workload.prompt_len.ToString());
  out.Add("max_tokens", setup.workload.max_tokens.ToString());
  out.Add("shared_prefix", setup.workload.shared_prefix);
  out.Add("rate", std::isinf(setup.workload.rate) ? std::string("closed loop")
                                                  : absl::StrCat(setup.workload.rate, "/s"));
  out.Add("max_num_seqs", setup.options.max_num_seqs);
  out.Add("max_batched_tokens", setup.options.max_batched_tokens);
  out.Add("page_size", setup.options.page_size);
}

int RunServeCompare(int, char**) {
  auto setup = MakeSetup();
  if (!setup.ok()) return Fail(setup.status());
  KeyValuePrinter out;
  PrintWorkload(*setup, out);
  const int32_t concurrency = absl::GetFlag(FLAGS_serve_concurrency);
  SchedulerOptions static_options = setup->options;
  static_options.admission_policy =
      std::make_shared<StaticBatchAdmission>(static_options.max_num_seqs);
  const std::vector<load::RequestPlan> plans = load::GenerateWorkload(setup->workload);
  auto continuous = RunAndReport(*setup, plans, setup->options, concurrency, "continuous", out);
  if (!continuous.ok()) return Fail(continuous.status());
  auto batched = RunAndReport(*setup, plans, static_options, concurrency, "static", out);
  if (!batched.ok()) return Fail(batched.status());
  // Padded static batches; prefix caching off, or the shared padding would be served from it.
  const std::vector<load::RequestPlan> padded = PadToStaticBatches(
      plans, setup->options.max_num_seqs, setup->model.weights->config.pad_token_id);
  static_options.enable_prefix_caching = false;
  static_options.admission_policy =
      std::make_shared<StaticBatchAdmission>(static_options.max_num_seqs);
  auto padded_run = RunAndReport(*setup, padded, static_options, concurrency, "padded_static", out);
  if (!padded_run.ok()) return Fail(padded_run.status());
  const double padded_useful_tok_s = RequestedTokens(plans) / padded_run->duration_s;
  out.Add("padded_static_useful_tok_s", padded_useful_tok_s);
  out.Add("continuous_vs_static_throughput",
          continuous->tokens_per_second() / batched->tokens_per_second());
  out.Add("static_vs_continuous_ttft_p99", batched->Ttft().p99 / continuous->Ttft().p99);
  out.Add("continuous_vs_padded_static_throughput",
          continuous->tokens_per_second() / padded_useful_tok_s);
  out.Add("padded_static_vs_continuous_ttft_p99", padded_run->Ttft().p99 / continuous->Ttft().p99);
  // KV waste at saturation, from the continuous run.
  out.Add("saturated_samples", continuous->saturated_samples);
  out.Add("max_running", continuous->max_running);
  out.Add("kv_unused_slots_per_request_mean", continuous->mean_unused_slots_per_request);
  out.Add("kv_unused_slots_per_request_max", continuous->max_unused_slots_per_request);
  out.Add("kv_waste_pages_per_request_max",
          continuous->max_unused_slots_per_request / setup->options.page_size);
  return FinishReport(out);
}

int RunPrefixCache(int, char**) {
  auto setup = MakeSetup();
  if (!setup.ok()) return Fail(setup.status());
  setup->workload.shared_prefix = absl::GetFlag(FLAGS_prefix_shared);
  KeyValuePrinter out;
  PrintWorkload(*setup, out);
  const int32_t concurrency = absl::GetFlag(FLAGS_serve_concurrency);
  SchedulerOptions off = setup->options;
  off.enable_prefix_caching = false;
  const std::vector<load::RequestPlan> plans = load::GenerateWorkload(setup->workload);
  auto without = RunAndReport(*setup, plans, off, concurrency, "without_cache", out);
  if (!without.ok()) return Fail(without.status());
  auto with = RunAndReport(*setup, plans, setup->options, concurrency, "with_cache", out);
  if (!with.ok()) return Fail(with.status());
  out.Add("ttft_p50_with_over_without", with->Ttft().p50 / without->Ttft().p50);
  out.Add("ttft_p99_with_over_without", with->Ttft().p99 / without->Ttft().p99);
  return FinishReport(out);
}

int RunServerOverhead(int, char**) {
  auto setup = MakeSetup();
  if (!setup.ok()) return Fail(setup.status());
  int32_t concurrency = absl::GetFlag(FLAGS_serve_concurrency);
  if (concurrency == 0) concurrency = 64;
  KeyValuePrinter out;
  PrintWorkload(*setup, out);
  out.Add("streams", concurrency);
  auto offline = RunAndReport(*setup, load::GenerateWorkload(setup->workload), setup->options,
                              concurrency, "offline", out);
  if (!offline.ok()) return Fail(offline.status());

  // The daemon's serving path: the gRPC server with metrics (as the daemon runs it), driven by
  // kvload's client over loopback TCP.
  auto server =
      KvServer::Start(setup->model, EngineOptions(setup->options),
                      {.host = "127.0.0.1", .port = 0, .metrics = std::make_shared<Metrics>()});
  if (!server.ok()) return Fail(server.status());
  load::ChannelPool pool((*server)->address(), load::ChannelPool::ChannelsFor(concurrency));
  if (absl::Status s = pool.WaitForConnected(absl::Seconds(10)); !s.ok()) return Fail(s);
  load::LoadOptions load_options;
  load_options.workload = setup->workload;
  load_options.concurrency = concurrency;
  auto run = load::RunLoad(load_options, pool, nullptr);
  if (!run.ok()) return Fail(run.status());
  int64_t tokens = 0, failures = 0;
  std::vector<double> ttfts;
  for (const load::RequestRecord& r : run->requests) {
    tokens += r.tokens;
    if (r.outcome != load::Outcome::kOk || r.tokens != r.max_tokens) ++failures;
    if (r.TtftSeconds() >= 0) ttfts.push_back(r.TtftSeconds());
  }
  const SchedulerStats stats = (*server)->scheduler().stats();
  (*server)->Shutdown(absl::Seconds(5));
  const double server_tok_s = tokens / run->duration_s;
  out.Add("server_seconds", run->duration_s);
  out.Add("server_tok_s", server_tok_s);
  const load::LatencySummary server_ttft = load::Summarize(ttfts);
  out.Add("server_ttft_p50_ms", 1e3 * server_ttft.p50);
  out.Add("server_ttft_p99_ms", 1e3 * server_ttft.p99);
  out.Add("server_failures", failures);
  out.Add("server_pages_leaked", stats.total_pages - stats.free_pages);
  out.Add("server_vs_offline", server_tok_s / offline->tokens_per_second());
  if (failures > 0) return Fail(absl::InternalError("requests through the server failed"));
  return FinishReport(out);
}

}  // namespace

KVBENCH_SUBCOMMAND("serve-compare",
                   "continuous vs static batching on a mixed workload; KV waste at saturation",
                   RunServeCompare);
KVBENCH_SUBCOMMAND("prefix-cache", "TTFT with vs without prefix caching (shared prompt prefix)",
                   RunPrefixCache);
KVBENCH_SUBCOMMAND("server-overhead",
                   "closed loop through the gRPC server (kvload client) vs in-process scheduler",
                   RunServerOverhead);

}  // namespace kvserve::bench
