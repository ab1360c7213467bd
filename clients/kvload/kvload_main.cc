// kvload: a load generator for kvserve, in the manner of vLLM's benchmark_serving.
//
// Opens many concurrent Generate streams against --target from one process (gRPC callback API,
// no thread per stream), closed loop (--concurrency N) or open loop (--rate R, Poisson), and
// reports TTFT, inter-token latency, TPOT, end-to-end latency and throughput. See --help.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/client_channel.h"
#include "clients/client_security_flags.h"
#include "clients/command_line.h"
#include "clients/flag_values.h"
#include "clients/kvload/channel_pool.h"
#include "clients/kvload/dataset.h"
#include "clients/kvload/load_runner.h"
#include "clients/kvload/metrics.h"
#include "clients/kvload/progress_line.h"
#include "clients/kvload/report.h"
#include "clients/kvload/result_files.h"
#include "clients/kvload/slo.h"
#include "clients/kvload/svg_plot.h"
#include "clients/kvload/workload.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "security/bearer_token.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "kvserve's gRPC address (host:port); with --api openai it still serves the ServerInfo "
          "checks before and after the run.");
ABSL_FLAG(std::string, api, "grpc",
          "grpc: Generate streams to --target; openai: SSE streams to the OpenAI-compatible HTTP "
          "front end at --http_target (/v1/completions, or /v1/chat/completions with --chat).");
ABSL_FLAG(std::string, http_target, "127.0.0.1:8000",
          "With --api openai: the HTTP front end (host:port).");
ABSL_FLAG(std::string, served_model, "",
          "With --api openai: the \"model\" each request names; empty: none (the served one).");
ABSL_FLAG(int32_t, concurrency, 0,
          "Closed loop: keep this many streams in flight. With --rate: a cap on streams in "
          "flight (0 = none).");
ABSL_FLAG(std::string, rate, "0",
          "Open loop: requests per second, Poisson arrivals (0 = closed loop). A list (2,4,8) "
          "sweeps the rates: one run per rate, one row each.");
ABSL_FLAG(double, burstiness, 1.0,
          "Open loop: gamma-distributed gaps with this shape and the same mean (1 = Poisson; "
          "< 1 burstier, > 1 more even), as vLLM's --burstiness.");
ABSL_FLAG(double, ramp_to, 0,
          "Open loop: raise (or lower) the rate linearly from --rate to this over "
          "--ramp_seconds, then hold it (0 = constant rate).");
ABSL_FLAG(double, ramp_seconds, 0, "Length of the --ramp_to ramp (0 = --duration).");
ABSL_FLAG(std::string, goodput, "",
          "Service-level objectives in ms, e.g. ttft:2000,tpot:200,e2e:10000: report the "
          "fraction of requests meeting all of them and goodput (requests/s and tokens/s that "
          "met them), as vLLM's benchmark_serving --goodput.");
ABSL_FLAG(std::string, percentiles, "50,90,99",
          "Latency percentiles to report (e.g. 50,90,99,99.9).");
ABSL_FLAG(int64_t, warmup_requests, 0,
          "Requests sent before each run (closed loop, same lengths, other prompts) and left out "
          "of its figures.");
ABSL_FLAG(double, max_failed_fraction, 0,
          "Exit 1 when more than this fraction of a run's requests failed (errors and aborted "
          "streams; deliberate --cancel_fraction cancellations do not count). 0: any failure "
          "fails the run; 1: never.");
ABSL_FLAG(std::string, save_result, "",
          "Directory to keep this run's results in: kvload-TIME.json (as --json, plus metadata: "
          "version, time, host, command line), kvload-TIME-summary.csv and "
          "kvload-TIME-requests.csv.");
ABSL_FLAG(std::string, dataset, "",
          "Prompts from a JSONL file, one {\"prompt\": TEXT[, \"max_tokens\": N]} per line, used "
          "in order and cycled (instead of synthetic prompts; --prompt_len is then unused).");
ABSL_FLAG(int64_t, num_requests, 1000, "Requests to send (0 = until --duration ends).");
ABSL_FLAG(double, duration, 0,
          "Seconds after which no new request starts (0 = none); the run ends at whichever of "
          "--num_requests and --duration comes first.");
ABSL_FLAG(std::string, prompt_len, "32", "Prompt length in tokens: N or LO:HI (uniform).");
ABSL_FLAG(std::string, max_tokens, "16", "Output tokens per request: N or LO:HI (uniform).");
ABSL_FLAG(bool, prompt_text, false,
          "Send prompts as text (random words, one byte per token on byte-level models) instead "
          "of random token ids 0..255.");
ABSL_FLAG(int32_t, shared_prefix, 0, "The first N prompt tokens are common to all requests.");
ABSL_FLAG(bool, ignore_eos, true, "Ask the server to ignore EOS, so outputs have max_tokens.");
ABSL_FLAG(double, temperature, 0, "Sampling temperature (0 = greedy).");
ABSL_FLAG(std::string, stop, "",
          "Stop string sent with every request; repeatable (--stop A --stop B); C escapes are "
          "decoded (--stop '\\n'). Streams that stop early count only the tokens they got.");
ABSL_FLAG(int32_t, n, 1,
          "Samples per request (1 to 16): throughput counts every sample's tokens; ITL and TPOT "
          "are per sample.");
ABSL_FLAG(bool, chat, false,
          "Send each prompt as the one user message of a chat prompt (rendered with the model's "
          "chat template); implies --prompt_text. --prompt_len then counts the message's bytes.");
ABSL_FLAG(uint64_t, seed, 0, "Seed of the workload (and of each request's sampling seed).");
ABSL_FLAG(int64_t, deadline_ms, 0, "Per-request deadline in milliseconds (0 = none).");
ABSL_FLAG(double, cancel_fraction, 0,
          "Cancel this fraction of requests (chosen by seed) after a random number of tokens; "
          "counted as cancelled, not as errors.");
ABSL_FLAG(std::string, sweep, "",
          "Comma-separated concurrencies (e.g. 1,8,32,128): run the closed-loop workload at each "
          "in turn and print one row per concurrency.");
ABSL_FLAG(std::string, json, "", "Write config, summaries and per-request records to this file.");
ABSL_FLAG(std::string, plot, "", "Write an SVG figure to this file.");
ABSL_FLAG(int32_t, channels, 0,
          "gRPC channels (HTTP/2 connections) to spread streams over; 0 = one per 64 streams.");
ABSL_FLAG(double, drain_seconds, 30,
          "After --duration, how long streams in flight may take before they are cancelled.");
ABSL_FLAG(double, max_seconds, 3600, "Hard bound on one run's length, in seconds.");
ABSL_FLAG(double, connect_timeout, 10, "Seconds to wait for the target to accept connections.");
ABSL_FLAG(bool, expect_idle, false,
          "After the run, fail unless the server goes idle (nothing running or waiting) with every "
          "KV page free within 10 s: a leak check for runs that are the server's only load.");
ABSL_FLAG(bool, progress, true, "Show a live progress line on stderr when it is a terminal.");

namespace kvserve::load {
namespace {

absl::StatusOr<std::vector<double>> ParseRates(const std::string& text) {
  std::vector<double> rates;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    double rate = 0;
    if (!absl::SimpleAtod(part, &rate) || !(rate >= 0) || std::isinf(rate)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rate: \"", part, "\" is not a rate in requests per second (>= 0)"));
    }
    rates.push_back(rate);
  }
  if (rates.empty()) return absl::InvalidArgumentError("--rate lists no rate");
  if (rates.size() > 1) {
    for (double r : rates) {
      if (r == 0) return absl::InvalidArgumentError("--rate: a rate sweep cannot hold 0");
    }
  }
  return rates;
}

absl::StatusOr<std::vector<int32_t>> ParseSweep(const std::string& text) {
  std::vector<int32_t> levels;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    int32_t level = 0;
    if (!absl::SimpleAtoi(part, &level) || level <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--sweep: \"", part, "\" is not a positive concurrency"));
    }
    levels.push_back(level);
  }
  if (levels.empty()) return absl::InvalidArgumentError("--sweep lists no concurrency");
  return levels;
}

// `stops`: the --stop values (absl keeps only a repeated flag's last value; main collects them).
absl::StatusOr<LoadOptions> OptionsFromFlags(const std::vector<std::string>& stops) {
  LoadOptions o;
  WorkloadOptions& w = o.workload;
  w.num_requests = absl::GetFlag(FLAGS_num_requests);
  absl::StatusOr<std::vector<double>> rates = ParseRates(absl::GetFlag(FLAGS_rate));
  if (!rates.ok()) return rates.status();
  const double rate = rates->front();
  w.rate = rate > 0 ? rate : std::numeric_limits<double>::infinity();
  w.burstiness = absl::GetFlag(FLAGS_burstiness);
  w.ramp_to_rate = absl::GetFlag(FLAGS_ramp_to);
  w.ramp_seconds = absl::GetFlag(FLAGS_ramp_seconds) > 0 ? absl::GetFlag(FLAGS_ramp_seconds)
                                                         : absl::GetFlag(FLAGS_duration);
  if (const std::string path = absl::GetFlag(FLAGS_dataset); !path.empty()) {
    absl::StatusOr<std::vector<DatasetEntry>> entries = ReadDataset(path);
    if (!entries.ok()) return entries.status();
    w.dataset = std::make_shared<const std::vector<DatasetEntry>>(*std::move(entries));
    w.prompt_text = true;
  }
  absl::StatusOr<LengthRange> prompt_len = LengthRange::Parse(absl::GetFlag(FLAGS_prompt_len));
  if (!prompt_len.ok()) return prompt_len.status();
  absl::StatusOr<LengthRange> max_tokens = LengthRange::Parse(absl::GetFlag(FLAGS_max_tokens));
  if (!max_tokens.ok()) return max_tokens.status();
  w.prompt_len = *prompt_len;
  w.max_tokens = *max_tokens;
  w.prompt_text = absl::GetFlag(FLAGS_prompt_text) || absl::GetFlag(FLAGS_chat);
  w.shared_prefix = absl::GetFlag(FLAGS_shared_prefix);
  w.cancel_fraction = absl::GetFlag(FLAGS_cancel_fraction);
  w.seed = absl::GetFlag(FLAGS_seed);
  o.call.temperature = static_cast<float>(absl::GetFlag(FLAGS_temperature));
  o.call.ignore_eos = absl::GetFlag(FLAGS_ignore_eos);
  o.call.deadline_ms = absl::GetFlag(FLAGS_deadline_ms);
  for (const std::string& stop : stops) {
    absl::StatusOr<std::string> text = UnescapeFlagText(stop);
    if (!text.ok())
      return absl::InvalidArgumentError("--stop: " + std::string(text.status().message()));
    o.call.stop.push_back(*std::move(text));
  }
  o.call.n = absl::GetFlag(FLAGS_n);
  o.call.chat = absl::GetFlag(FLAGS_chat);
  o.concurrency = absl::GetFlag(FLAGS_concurrency);
  o.duration_s = absl::GetFlag(FLAGS_duration);
  o.drain_seconds = absl::GetFlag(FLAGS_drain_seconds);
  o.max_seconds = absl::GetFlag(FLAGS_max_seconds);
  const std::string api = absl::GetFlag(FLAGS_api);
  if (api == "openai") {
    OpenAiStreamClient::Options http;
    const std::string target = absl::GetFlag(FLAGS_http_target);
    const size_t colon = target.rfind(':');
    if (colon == std::string::npos || !absl::SimpleAtoi(target.substr(colon + 1), &http.port)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--http_target must be host:port, got \"", target, "\""));
    }
    const std::string host = target.substr(0, colon);
    http.host = std::string(absl::StripPrefix(absl::StripSuffix(host, "]"), "["));
    http.model = absl::GetFlag(FLAGS_served_model);
    if (const std::string file = SecurityOptionsFromFlags().auth_token_file; !file.empty()) {
      absl::StatusOr<std::string> token = ReadBearerTokenFile(file);
      if (!token.ok()) return token.status();
      http.bearer_token = *std::move(token);
    }
    o.openai = std::move(http);
  } else if (api != "grpc") {
    return absl::InvalidArgumentError(
        absl::StrCat("--api must be grpc or openai, got \"", api, "\""));
  }
  return o;
}

nlohmann::json ConfigJson(const LoadOptions& o, const std::vector<int32_t>& sweep, int channels) {
  const WorkloadOptions& w = o.workload;
  return {
      {"target", absl::GetFlag(FLAGS_target)},
      {"api", absl::GetFlag(FLAGS_api)},
      {"http_target", o.openai.has_value() ? nlohmann::json(absl::GetFlag(FLAGS_http_target))
                                           : nlohmann::json(nullptr)},
      {"concurrency", o.concurrency},
      {"rate", std::isinf(w.rate) ? nlohmann::json(nullptr) : nlohmann::json(w.rate)},
      {"num_requests", w.num_requests},
      {"duration_s", o.duration_s},
      {"prompt_len", w.prompt_len.ToString()},
      {"max_tokens", w.max_tokens.ToString()},
      {"prompt_text", w.prompt_text},
      {"shared_prefix", w.shared_prefix},
      {"ignore_eos", o.call.ignore_eos},
      {"temperature", o.call.temperature},
      {"stop", o.call.stop},
      {"n", o.call.n},
      {"chat", o.call.chat},
      {"seed", w.seed},
      {"deadline_ms", o.call.deadline_ms},
      {"cancel_fraction", w.cancel_fraction},
      {"sweep", sweep},
      {"burstiness", w.burstiness},
      {"ramp_to", w.ramp_to_rate > 0 ? nlohmann::json(w.ramp_to_rate) : nlohmann::json(nullptr)},
      {"ramp_seconds",
       w.ramp_to_rate > 0 ? nlohmann::json(w.ramp_seconds) : nlohmann::json(nullptr)},
      {"dataset", absl::GetFlag(FLAGS_dataset)},
      {"goodput", absl::GetFlag(FLAGS_goodput)},
      {"percentiles", absl::GetFlag(FLAGS_percentiles)},
      {"warmup_requests", absl::GetFlag(FLAGS_warmup_requests)},
      {"max_failed_fraction", absl::GetFlag(FLAGS_max_failed_fraction)},
      {"channels", channels}};
}

// The server's self-description, or null if it does not answer within a few seconds.
nlohmann::json ServerInfoJson(ChannelPool& pool) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  kvserve::v1::ServerInfo info;
  const grpc::Status status =
      pool.stub(0)->GetServerInfo(&context, kvserve::v1::GetServerInfoRequest(), &info);
  if (!status.ok()) return nullptr;
  return {{"model_name", info.model_name()},
          {"vocab_size", info.vocab_size()},
          {"max_context", info.max_context()},
          {"page_size", info.page_size()},
          {"total_pages", info.total_pages()},
          {"max_num_seqs", info.max_num_seqs()},
          {"max_batched_tokens", info.max_batched_tokens()},
          {"max_waiting", info.max_waiting()},
          {"version", info.version()}};
}

// After a run: waits up to `timeout` for the server to report nothing running or waiting, then
// prints its page figures. With --expect_idle, an error if it did not go idle or holds pages.
absl::Status CheckServerAfterRun(ChannelPool& pool, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  kvserve::v1::ServerInfo info;
  for (;;) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    const grpc::Status status =
        pool.stub(0)->GetServerInfo(&context, kvserve::v1::GetServerInfoRequest(), &info);
    if (!status.ok()) {
      return absl::UnavailableError(
          absl::StrCat("GetServerInfo after the run: ", status.error_message()));
    }
    if ((info.running() == 0 && info.waiting() == 0) || absl::Now() >= give_up) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  const int64_t held = info.total_pages() - info.free_pages();
  std::printf(
      "server after run: running %d, waiting %d, KV pages free %lld of %lld (%lld held, "
      "%lld cached for prefix reuse)\n",
      info.running(), info.waiting(), static_cast<long long>(info.free_pages()),
      static_cast<long long>(info.total_pages()), static_cast<long long>(held),
      static_cast<long long>(info.cached_pages()));
  if (absl::GetFlag(FLAGS_expect_idle) &&
      (info.running() != 0 || info.waiting() != 0 || held != 0)) {
    return absl::InternalError(absl::StrCat("server not idle after the run: ", info.running(),
                                            " running, ", info.waiting(), " waiting, ", held,
                                            " KV pages held"));
  }
  return absl::OkStatus();
}

// One run of a sweep: the closed loop at a concurrency, or the open loop at a rate.
struct Level {
  int32_t concurrency = 0;
  double rate = std::numeric_limits<double>::infinity();
};

// The runs asked for: one per --sweep concurrency, one per --rate in a list, else just one.
absl::StatusOr<std::vector<Level>> LevelsFromFlags(const LoadOptions& options) {
  std::vector<Level> levels;
  absl::StatusOr<std::vector<double>> rates = ParseRates(absl::GetFlag(FLAGS_rate));
  if (!rates.ok()) return rates.status();
  if (const std::string text = absl::GetFlag(FLAGS_sweep); !text.empty()) {
    absl::StatusOr<std::vector<int32_t>> concurrencies = ParseSweep(text);
    if (!concurrencies.ok()) return concurrencies.status();
    if (std::isfinite(options.workload.rate)) {
      return absl::InvalidArgumentError("--sweep runs the closed loop; drop --rate");
    }
    for (int32_t c : *concurrencies) levels.push_back({c, options.workload.rate});
    return levels;
  }
  if (rates->size() > 1 && options.workload.ramp_to_rate > 0) {
    return absl::InvalidArgumentError("--ramp_to ramps one rate; give --rate one value");
  }
  for (double rate : *rates) {
    levels.push_back(
        {options.concurrency, rate > 0 ? rate : std::numeric_limits<double>::infinity()});
  }
  return levels;
}

// The warm-up before a run: `count` closed-loop requests of the same shape with other prompts.
absl::Status RunWarmup(const LoadOptions& run, int64_t count, ChannelPool& pool) {
  LoadOptions warm = run;
  warm.workload.num_requests = count;
  warm.workload.rate = std::numeric_limits<double>::infinity();
  warm.workload.ramp_to_rate = 0;
  warm.workload.cancel_fraction = 0;
  warm.workload.seed = run.workload.seed ^ 0x5741524d55502d31ULL;  // "WARMUP-1"
  warm.duration_s = 0;
  if (warm.concurrency <= 0) warm.concurrency = static_cast<int32_t>(std::min<int64_t>(count, 64));
  absl::StatusOr<RunResult> result = RunLoad(warm, pool, /*progress=*/nullptr);
  if (!result.ok()) return result.status();
  const RunSummary s = SummarizeRun(*result);
  std::fprintf(stderr, "warm-up: %lld requests, %lld ok, %lld failed, %.1f s (not counted)\n",
               static_cast<long long>(s.requests), static_cast<long long>(s.ok),
               static_cast<long long>(FailedRequests(s)), s.duration_s);
  return absl::OkStatus();
}

// FAILED_PRECONDITION naming the first run whose failed share exceeds `max_fraction`.
absl::Status CheckFailures(const std::vector<RunReport>& runs, double max_fraction) {
  for (const RunReport& run : runs) {
    const RunSummary& s = run.summary;
    const int64_t failed = FailedRequests(s);
    if (failed == 0 || s.requests == 0) continue;
    const double fraction = static_cast<double>(failed) / static_cast<double>(s.requests);
    if (fraction <= max_fraction) continue;
    std::string codes = s.errors > 0 ? ErrorsText(s) : "";
    if (s.aborted > 0) absl::StrAppend(&codes, codes.empty() ? "" : ", ", "aborted=", s.aborted);
    return absl::FailedPreconditionError(
        absl::StrFormat("%d of %d requests failed (%s; %s); --max_failed_fraction is %g", failed,
                        s.requests, ModeText(run), codes, max_fraction));
  }
  return absl::OkStatus();
}

absl::Status Main(const std::vector<std::string>& stops, const std::vector<std::string>& argv) {
  const absl::Time started = absl::Now();
  absl::StatusOr<LoadOptions> options = OptionsFromFlags(stops);
  if (!options.ok()) return options.status();
  absl::StatusOr<std::vector<Level>> levels = LevelsFromFlags(*options);
  if (!levels.ok()) return levels.status();
  SummaryOptions summary_options;
  absl::StatusOr<Slo> slo = Slo::Parse(absl::GetFlag(FLAGS_goodput));
  if (!slo.ok()) return slo.status();
  summary_options.slo = *slo;
  absl::StatusOr<std::vector<double>> percentiles =
      ParsePercentiles(absl::GetFlag(FLAGS_percentiles));
  if (!percentiles.ok()) return percentiles.status();
  summary_options.percentiles = *percentiles;
  const double max_failed = absl::GetFlag(FLAGS_max_failed_fraction);
  if (!(max_failed >= 0 && max_failed <= 1)) {
    return absl::InvalidArgumentError("--max_failed_fraction must be in [0, 1]");
  }
  const int64_t warmup = absl::GetFlag(FLAGS_warmup_requests);
  if (warmup < 0) return absl::InvalidArgumentError("--warmup_requests must be >= 0");
  int max_streams = 0;
  for (const Level& level : *levels) {
    LoadOptions check = *options;
    check.concurrency = level.concurrency;
    check.workload.rate = level.rate;
    if (absl::Status s = ValidateLoad(check); !s.ok()) return s;
    max_streams = std::max(max_streams, level.concurrency);
  }
  if (max_streams == 0) max_streams = 1024;  // uncapped open loop
  std::vector<int32_t> sweep;
  if (!absl::GetFlag(FLAGS_sweep).empty()) {
    for (const Level& level : *levels) sweep.push_back(level.concurrency);
  }
  const int channels = absl::GetFlag(FLAGS_channels) > 0 ? absl::GetFlag(FLAGS_channels)
                                                         : ChannelPool::ChannelsFor(max_streams);
  absl::StatusOr<ClientChannelFactory> factory =
      ClientChannelFactory::Create(SecurityOptionsFromFlags());
  if (!factory.ok()) return factory.status();
  ChannelPool pool(absl::GetFlag(FLAGS_target), channels, *factory);
  if (absl::Status s = pool.WaitForConnected(absl::Seconds(absl::GetFlag(FLAGS_connect_timeout)));
      !s.ok()) {
    return s;
  }
  const nlohmann::json server = ServerInfoJson(pool);

  ProgressLine progress = ProgressLine::ForStderr(absl::GetFlag(FLAGS_progress));
  std::vector<RunReport> runs;
  const bool many = levels->size() > 1;
  for (const Level& level : *levels) {
    LoadOptions run_options = *options;
    run_options.concurrency = level.concurrency;
    run_options.workload.rate = level.rate;
    if (warmup > 0) {
      if (absl::Status s = RunWarmup(run_options, warmup, pool); !s.ok()) return s;
    }
    absl::StatusOr<RunResult> result = RunLoad(run_options, pool, &progress);
    if (!result.ok()) return result.status();
    RunReport& run = runs.emplace_back();
    run.concurrency = run_options.concurrency;
    run.rate = run_options.workload.rate;
    run.summary = SummarizeRun(*result, summary_options);
    run.result = *std::move(result);
    if (many) {
      std::fprintf(stderr, "sweep: %s done: %.1f tok/s, %lld ok, %lld failed\n",
                   ModeText(run).c_str(), run.summary.output_throughput,
                   static_cast<long long>(run.summary.ok),
                   static_cast<long long>(FailedRequests(run.summary)));
    }
  }

  std::fputs((many ? FormatSweepTable(runs) : FormatSummary(runs.front())).c_str(), stdout);
  const absl::Status after = CheckServerAfterRun(pool, absl::Seconds(10));
  std::fflush(stdout);

  const nlohmann::json doc = ReportToJson(ConfigJson(*options, sweep, channels), server, runs);
  if (const std::string path = absl::GetFlag(FLAGS_json); !path.empty()) {
    if (absl::Status s = WriteTextFile(path, doc.dump(1) + "\n"); !s.ok()) return s;
  }
  if (const std::string dir = absl::GetFlag(FLAGS_save_result); !dir.empty()) {
    absl::StatusOr<std::vector<std::string>> paths = SaveResult(dir, doc, runs, argv, started);
    if (!paths.ok()) return paths.status();
    std::printf("saved: %s\n", absl::StrJoin(*paths, " ").c_str());
  }
  if (const std::string path = absl::GetFlag(FLAGS_plot); !path.empty()) {
    const std::string title = absl::StrCat("kvload against ", pool.target());
    const std::string svg = many ? SweepPlotSvg(runs, title) : RunPlotSvg(runs.front(), title);
    if (absl::Status s = WriteTextFile(path, svg); !s.ok()) return s;
  }
  if (!after.ok()) return after;
  return CheckFailures(runs, max_failed);
}

}  // namespace
}  // namespace kvserve::load

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "load generator for kvserve (many concurrent Generate streams, one process).\n"
      "Closed loop:  kvload --target 127.0.0.1:50051 --concurrency 64 --num_requests 500 "
      "--prompt_len 32:256 --max_tokens 16:128\n"
      "Open loop:    kvload --rate 20 --duration 60 ...\n"
      "Sweep:        kvload --sweep 1,8,32,128 --num_requests 200 --plot sweep.svg\n"
      "Rate sweep:   kvload --rate 1,2,4 --duration 30 --goodput ttft:2000,tpot:200\n"
      "Results:      --json FILE (config, summaries, per-request records), --plot FILE.svg,\n"
      "              --save_result DIR (JSON with metadata, summary and request CSVs)\n"
      "Exit status:  0 if no request failed (see --max_failed_fraction), 1 otherwise");
  const std::vector<std::string> command_line(argv, argv + argc);
  absl::StatusOr<kvserve::ExtractedArgs> args = kvserve::ExtractRepeatedFlags(argc, argv, {"stop"});
  if (!args.ok()) {
    std::fprintf(stderr, "kvload: %s\n", args.status().ToString().c_str());
    return 1;
  }
  absl::ParseCommandLine(static_cast<int>(args->argv.size()), args->argv.data());
  if (absl::Status s = kvserve::load::Main(args->Values("stop"), command_line); !s.ok()) {
    std::fprintf(stderr, "kvload: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
