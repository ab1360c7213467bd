#include "clients/kvload/result_files.h"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace kvserve::load {
namespace {

std::string Number(double x) { return std::isfinite(x) ? absl::StrFormat("%.6g", x) : ""; }

// "ttft_mean,ttft_std,...": the columns of one latency metric.
void AppendLatencyHeader(const std::string& name, const LatencySummary& l,
                         std::vector<std::string>* out) {
  for (const char* stat : {"count", "mean", "std", "min"}) out->push_back(name + "_" + stat);
  for (const PercentileValue& pv : l.percentiles) {
    out->push_back(absl::StrCat(name, "_", PercentileLabel(pv.p)));
  }
  out->push_back(name + "_max");
}

void AppendLatency(const LatencySummary& l, std::vector<std::string>* out) {
  out->push_back(absl::StrCat(l.count));
  for (double x : {l.mean, l.stddev, l.min}) out->push_back(Number(x));
  for (const PercentileValue& pv : l.percentiles) out->push_back(Number(pv.value));
  out->push_back(Number(l.max));
}

std::string MsOrEmpty(double seconds) { return seconds < 0 ? "" : Number(seconds * 1e3); }

std::string Row(const std::vector<std::string>& fields) {
  std::vector<std::string> quoted;
  quoted.reserve(fields.size());
  for (const std::string& f : fields) quoted.push_back(CsvField(f));
  return absl::StrJoin(quoted, ",") + "\n";
}

}  // namespace

std::string CsvField(absl::string_view text) {
  if (text.find_first_of(",\"\n\r") == absl::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string SummaryCsv(const std::vector<RunReport>& runs) {
  if (runs.empty()) return "";
  std::vector<std::string> header = {"run",
                                     "mode",
                                     "concurrency",
                                     "rate",
                                     "requests",
                                     "ok",
                                     "cancelled",
                                     "aborted",
                                     "errors",
                                     "duration_s",
                                     "request_throughput",
                                     "output_throughput",
                                     "input_throughput",
                                     "total_token_throughput",
                                     "prompt_tokens",
                                     "output_tokens",
                                     "goodput_slo",
                                     "slo_met",
                                     "goodput_fraction",
                                     "request_goodput",
                                     "token_goodput"};
  const RunSummary& first = runs.front().summary;
  AppendLatencyHeader("ttft_ms", first.ttft_ms, &header);
  AppendLatencyHeader("itl_ms", first.itl_ms, &header);
  AppendLatencyHeader("tpot_ms", first.tpot_ms, &header);
  AppendLatencyHeader("e2e_ms", first.e2e_ms, &header);
  std::string out = Row(header);
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunReport& run = runs[i];
    const RunSummary& s = run.summary;
    const bool slo = !s.slo.empty();
    std::vector<std::string> row = {absl::StrCat(i),
                                    ModeText(run),
                                    absl::StrCat(run.concurrency),
                                    Number(run.rate),
                                    absl::StrCat(s.requests),
                                    absl::StrCat(s.ok),
                                    absl::StrCat(s.cancelled),
                                    absl::StrCat(s.aborted),
                                    absl::StrCat(s.errors),
                                    Number(s.duration_s),
                                    Number(s.request_throughput),
                                    Number(s.output_throughput),
                                    Number(s.input_throughput),
                                    Number(s.total_token_throughput),
                                    absl::StrCat(s.prompt_tokens),
                                    absl::StrCat(s.output_tokens),
                                    s.slo.ToString(),
                                    slo ? absl::StrCat(s.good) : "",
                                    slo ? Number(s.goodput_fraction) : "",
                                    slo ? Number(s.request_goodput) : "",
                                    slo ? Number(s.token_goodput) : ""};
    for (const LatencySummary* l : {&s.ttft_ms, &s.itl_ms, &s.tpot_ms, &s.e2e_ms}) {
      AppendLatency(*l, &row);
    }
    out += Row(row);
  }
  return out;
}

std::string RequestsCsv(const std::vector<RunReport>& runs) {
  std::string out = Row({"run", "index", "outcome", "status", "prompt_len", "max_tokens", "n",
                         "tokens", "start_ms", "ttft_ms", "tpot_ms", "e2e_ms", "finish_reason",
                         "usage_prompt_tokens", "usage_completion_tokens", "status_message"});
  for (size_t i = 0; i < runs.size(); ++i) {
    for (const RequestRecord& r : runs[i].result.requests) {
      out += Row({absl::StrCat(i), absl::StrCat(r.index), OutcomeName(r.outcome),
                  StatusCodeName(r.status_code), absl::StrCat(r.prompt_len),
                  absl::StrCat(r.max_tokens), absl::StrCat(r.n), absl::StrCat(r.tokens),
                  Number(r.start_s * 1e3), MsOrEmpty(r.TtftSeconds()), MsOrEmpty(r.TpotSeconds()),
                  Number(r.end_s * 1e3), absl::StrCat(r.finish_reason),
                  absl::StrCat(r.usage_prompt_tokens), absl::StrCat(r.usage_completion_tokens),
                  r.status_message});
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> SaveResult(const std::string& dir, nlohmann::json doc,
                                                    const std::vector<RunReport>& runs,
                                                    const std::vector<std::string>& argv,
                                                    absl::Time started) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::UnavailableError(
        absl::StrCat("--save_result: cannot create ", dir, ": ", error.message()));
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  doc["metadata"] = {
      {"kvload_version", kKvloadVersion},
      {"started_utc", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", started, absl::UTCTimeZone())},
      {"hostname", host},
      {"argv", argv}};
  const std::string base =
      absl::StrCat((std::filesystem::path(dir) / "kvload-").string(),
                   absl::FormatTime("%Y%m%d-%H%M%S", started, absl::UTCTimeZone()));
  const std::vector<std::string> paths = {base + ".json", base + "-summary.csv",
                                          base + "-requests.csv"};
  const std::string texts[] = {doc.dump(1) + "\n", SummaryCsv(runs), RequestsCsv(runs)};
  for (size_t i = 0; i < paths.size(); ++i) {
    if (absl::Status s = WriteTextFile(paths[i], texts[i]); !s.ok()) return s;
  }
  return paths;
}

}  // namespace kvserve::load
