// kvsoak: a soak and fault test of a running kvserve daemon.
//
// Sends --requests Generate streams (at most --concurrency at once) mixing prompt and output
// lengths, client cancellations mid-stream, short deadlines and invalid requests (see
// soak_plan.h), checks each request's outcome (soak_check.h), then waits for the server to go idle
// and requires every KV page to be free again. Prints a summary; exits 1 on any violation, 2 on a
// usage or connection error.
//
//   kvsoak --target=127.0.0.1:50051 --requests=10000 --concurrency=128
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/kvload/channel_pool.h"
#include "clients/kvload/run_result.h"
#include "clients/kvsoak/soak_check.h"
#include "clients/kvsoak/soak_plan.h"
#include "clients/kvsoak/soak_runner.h"
#include "clients/server_info.h"
#include "grpcpp/grpcpp.h"
#include "kvserve/v1/kvserve.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "The daemon's address.");
ABSL_FLAG(int64_t, requests, 1000, "Requests to send.");
ABSL_FLAG(int32_t, concurrency, 128, "Most streams in flight at once.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the request mix (same seed, same requests).");
ABSL_FLAG(double, cancel_fraction, 0.20, "Share of requests cancelled after some tokens.");
ABSL_FLAG(double, deadline_fraction, 0.10, "Share of requests with a short deadline.");
ABSL_FLAG(double, invalid_fraction, 0.05, "Share of invalid requests.");
ABSL_FLAG(double, long_fraction, 0.05,
          "Share of valid requests whose prompt + output fill most of the context.");
ABSL_FLAG(double, samples_fraction, 0.15, "Share of valid requests asking for n = 2 or 3 samples.");
ABSL_FLAG(double, stop_string_fraction, 0.15,
          "Share of valid requests with a 1-2 letter stop string.");
ABSL_FLAG(std::string, prompt_len, "1:96", "Prompt length range lo:hi of the other requests.");
ABSL_FLAG(std::string, max_tokens, "1:96", "max_tokens range lo:hi of the other requests.");
ABSL_FLAG(std::string, deadline_ms, "5:50", "Deadline range (ms) of the deadline requests.");
ABSL_FLAG(int32_t, timeout_s, 1800, "Give up on streams still running after this long.");
ABSL_FLAG(int32_t, idle_timeout_s, 10, "How long the server may take to go idle afterwards.");
ABSL_FLAG(int32_t, show_violations, 20, "Violations printed in full.");

namespace kvserve::soak {
namespace {

constexpr int kExitViolation = 1;
constexpr int kExitUsage = 2;

absl::StatusOr<SoakMix> MixFromFlags() {
  SoakMix mix;
  mix.cancel_fraction = absl::GetFlag(FLAGS_cancel_fraction);
  mix.deadline_fraction = absl::GetFlag(FLAGS_deadline_fraction);
  mix.invalid_fraction = absl::GetFlag(FLAGS_invalid_fraction);
  mix.long_fraction = absl::GetFlag(FLAGS_long_fraction);
  mix.samples_fraction = absl::GetFlag(FLAGS_samples_fraction);
  mix.stop_string_fraction = absl::GetFlag(FLAGS_stop_string_fraction);
  const std::pair<const char*, load::LengthRange*> ranges[] = {{"--prompt_len", &mix.prompt_len},
                                                               {"--max_tokens", &mix.max_tokens},
                                                               {"--deadline_ms", &mix.deadline_ms}};
  const std::string texts[] = {absl::GetFlag(FLAGS_prompt_len), absl::GetFlag(FLAGS_max_tokens),
                               absl::GetFlag(FLAGS_deadline_ms)};
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<load::LengthRange> range = load::LengthRange::Parse(texts[i]);
    if (!range.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: %s", ranges[i].first, range.status().message()));
    }
    *ranges[i].second = *range;
  }
  return mix;
}

int Main() {
  const int64_t num_requests = absl::GetFlag(FLAGS_requests);
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  if (num_requests <= 0 || concurrency <= 0) {
    std::fprintf(stderr, "kvsoak: --requests and --concurrency must be > 0\n");
    return kExitUsage;
  }
  absl::StatusOr<SoakMix> mix = MixFromFlags();
  if (!mix.ok()) {
    std::fprintf(stderr, "kvsoak: %s\n", std::string(mix.status().message()).c_str());
    return kExitUsage;
  }

  load::ChannelPool pool(absl::GetFlag(FLAGS_target), load::ChannelPool::ChannelsFor(concurrency));
  if (absl::Status s = pool.WaitForConnected(absl::Seconds(10)); !s.ok()) {
    std::fprintf(stderr, "kvsoak: %s\n", s.ToString().c_str());
    return kExitUsage;
  }
  kvserve::v1::ServerInfo before;
  if (grpc::Status s = FetchServerInfo(*pool.stub(0), &before); !s.ok()) {
    std::fprintf(stderr, "kvsoak: GetServerInfo failed: %s\n", s.error_message().c_str());
    return kExitUsage;
  }
  const ModelLimits limits{.vocab_size = before.vocab_size(), .max_context = before.max_context()};
  if (absl::Status s = ValidateSoakMix(*mix, limits); !s.ok()) {
    std::fprintf(stderr, "kvsoak: %s\n", std::string(s.message()).c_str());
    return kExitUsage;
  }

  std::vector<SoakPlan> plans;
  plans.reserve(static_cast<size_t>(num_requests));
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  for (int64_t i = 0; i < num_requests; ++i) plans.push_back(MakeSoakPlan(*mix, limits, seed, i));

  std::printf(
      "kvsoak: %lld requests, concurrency %d, seed %llu, model %s (vocab %d, context %d),"
      " %lld KV pages\n",
      static_cast<long long>(num_requests), concurrency, static_cast<unsigned long long>(seed),
      before.model_name().c_str(), limits.vocab_size, limits.max_context,
      static_cast<long long>(before.total_pages()));
  std::fflush(stdout);

  SoakRunner runner(&pool, &plans, concurrency);
  const SoakRunResult run = runner.Run(absl::Seconds(absl::GetFlag(FLAGS_timeout_s)),
                                       std::max<int64_t>(num_requests / 10, 100));

  // Per request.
  int64_t violations = 0, tokens = 0;
  std::map<std::string, int64_t> by_kind_status;  // "kind STATUS"
  const int show = absl::GetFlag(FLAGS_show_violations);
  for (size_t i = 0; i < plans.size(); ++i) {
    const SoakObservation& seen = run.seen[i];
    tokens += seen.tokens;
    const std::string status = !seen.started          ? "NOT_STARTED"
                               : seen.aborted         ? "ABORTED_AT_TIMEOUT"
                               : seen.done_calls == 0 ? "NO_STATUS"
                                                      : load::StatusCodeName(seen.status_code);
    ++by_kind_status[absl::StrFormat("%-8s %s", SoakKindName(plans[i].kind), status)];
    for (const std::string& v : CheckRequest(plans[i], seen)) {
      if (violations++ < show) {
        std::printf("VIOLATION request %zu (%s, prompt %d, max_tokens %d): %s\n", i,
                    SoakKindName(plans[i].kind), plans[i].prompt_len, plans[i].request.max_tokens(),
                    v.c_str());
      }
    }
  }
  if (run.hung > 0) {
    // Streams that ignore their own cancellation: the pool cannot be torn down under them.
    std::printf("VIOLATION %lld streams never ended, even after cancelling them\n",
                static_cast<long long>(run.hung));
    std::fflush(stdout);
    std::_Exit(kExitViolation);
  }

  // The server afterwards.
  kvserve::v1::ServerInfo after;
  WaitForIdleCache(*pool.stub(0), absl::Seconds(absl::GetFlag(FLAGS_idle_timeout_s)), &after);
  if (after.running() != 0 || after.waiting() != 0) {
    ++violations;
    std::printf("VIOLATION server not idle after the run: running %d, waiting %d\n",
                after.running(), after.waiting());
  }
  if (after.total_pages() == 0 || after.free_pages() != after.total_pages()) {
    ++violations;
    std::printf("VIOLATION KV pages leaked: %lld of %lld free\n",
                static_cast<long long>(after.free_pages()),
                static_cast<long long>(after.total_pages()));
  }

  std::printf("requests: %lld in %.1f s (%lld still running at the timeout)\n",
              static_cast<long long>(num_requests), run.seconds,
              static_cast<long long>(run.timed_out));
  std::printf("outcomes (kind status: count):\n");
  for (const auto& [key, count] : by_kind_status) {
    std::printf("  %-28s %lld\n", key.c_str(), static_cast<long long>(count));
  }
  std::printf("tokens received: %lld\n", static_cast<long long>(tokens));
  std::printf("server: preemptions +%lld, requests_finished +%lld, steps +%lld\n",
              static_cast<long long>(after.preemptions() - before.preemptions()),
              static_cast<long long>(after.requests_finished() - before.requests_finished()),
              static_cast<long long>(after.steps() - before.steps()));
  std::printf("pages at the end: %lld free of %lld (%lld cached); running %d, waiting %d\n",
              static_cast<long long>(after.free_pages()),
              static_cast<long long>(after.total_pages()),
              static_cast<long long>(after.cached_pages()), after.running(), after.waiting());
  std::printf("violations: %lld\n%s\n", static_cast<long long>(violations),
              violations == 0 ? "PASS" : "FAIL");
  return violations == 0 ? 0 : kExitViolation;
}

}  // namespace
}  // namespace kvserve::soak

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Soak/fault test of a kvserve daemon: kvsoak --target=HOST:PORT [--requests=N] "
      "[--concurrency=C] [--seed=S]");
  absl::ParseCommandLine(argc, argv);
  return kvserve::soak::Main();
}
