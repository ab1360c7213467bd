// Result files: --save_result DIR keeps a run's results for later comparison, as vLLM's
// benchmark_serving --save-result does.
//
// In DIR (created if missing), for a run started at UTC time T (YYYYMMDD-HHMMSS):
//   kvload-T.json           the --json document plus "metadata": {"kvload_version",
//                           "started_utc", "hostname", "argv"} (flags, server info and summaries
//                           are already in the document)
//   kvload-T-summary.csv    one row per run (per sweep level): mode, counts, throughputs,
//                           goodput and every latency statistic
//   kvload-T-requests.csv   one row per request of every run: outcome, status, lengths, TTFT,
//                           TPOT, e2e
// CSV: RFC 4180 (comma-separated, fields with a comma, quote or newline quoted, "" for a quote),
// a header row, latencies in milliseconds, empty where a metric does not apply.
//
// Threads: plain functions.
#ifndef KVSERVE_CLIENTS_KVLOAD_RESULT_FILES_H_
#define KVSERVE_CLIENTS_KVLOAD_RESULT_FILES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "clients/kvload/report.h"
#include "nlohmann/json.hpp"

namespace kvserve::load {

inline constexpr char kKvloadVersion[] = "kvload 0.1.0";

// One CSV field, quoted if it needs to be.
std::string CsvField(absl::string_view text);
std::string SummaryCsv(const std::vector<RunReport>& runs);
std::string RequestsCsv(const std::vector<RunReport>& runs);

// Writes the three files; returns their paths (JSON, summary CSV, requests CSV).
absl::StatusOr<std::vector<std::string>> SaveResult(const std::string& dir, nlohmann::json doc,
                                                    const std::vector<RunReport>& runs,
                                                    const std::vector<std::string>& argv,
                                                    absl::Time started);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_RESULT_FILES_H_
