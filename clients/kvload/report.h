// Report: kvload's results as text (a `key: value` block and a latency table) and as JSON.
//
// JSON layout (--json FILE):
//   {"tool": "kvload", "config": {...}, "server": {...},
//    "runs": [{"concurrency": N, "rate": R or null, "summary": {...}, "timeline": {...},
//              "requests": [{"index", "prompt_len", "max_tokens", "cancel_after_tokens",
//                            "outcome", "status", "status_message", "tokens", "start_ms",
//                            "ttft_ms", "tpot_ms", "e2e_ms", "itl_ms": [...], "finish_reason",
//                            "usage": {...}}, ...]}, ...]}
// One run per --sweep level (one run without --sweep). Latencies are milliseconds; a metric that
// does not apply to a request (no token, fewer than two tokens) is null.
//
// Threads: plain functions.
#ifndef KVSERVE_CLIENTS_KVLOAD_REPORT_H_
#define KVSERVE_CLIENTS_KVLOAD_REPORT_H_

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "clients/kvload/metrics.h"
#include "clients/kvload/run_result.h"
#include "nlohmann/json.hpp"

namespace kvserve::load {

// One finished run with the settings that distinguish it from the others of a sweep.
struct RunReport {
  int32_t concurrency = 0;  // 0 = uncapped
  double rate = 0;          // requests/s; infinity for closed loop
  RunSummary summary;
  RunResult result;
};

// "closed loop, concurrency 64" or "open loop, Poisson 20 req/s[, at most N in flight]".
std::string ModeText(const RunReport& run);

// "DEADLINE_EXCEEDED=8, UNAVAILABLE=1" (errors by code), or "none".
std::string ErrorsText(const RunSummary& summary);

// The summary block of one run, e.g.
//   requests:            500 ok, 0 cancelled, 0 aborted, 0 errors (500 finished)
//   output_throughput:   2345.6 tok/s
//   metric      mean     p50 ...
std::string FormatSummary(const RunReport& run);

// One line per run: concurrency, requests, errors, req/s, tok/s and p50/p99 latencies.
std::string FormatSweepTable(const std::vector<RunReport>& runs);

nlohmann::json SummaryToJson(const RunSummary& summary);
nlohmann::json RunToJson(const RunReport& run);
// The whole document; `config` and `server` are stored as given.
nlohmann::json ReportToJson(const nlohmann::json& config, const nlohmann::json& server,
                            const std::vector<RunReport>& runs);

// Writes `text` to `path` (replacing it).
absl::Status WriteTextFile(const std::string& path, const std::string& text);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_REPORT_H_
