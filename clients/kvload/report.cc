#include "clients/kvload/report.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace kvserve::load {

std::string ModeText(const RunReport& run) {
  if (std::isinf(run.rate)) return absl::StrFormat("closed loop, concurrency %d", run.concurrency);
  std::string mode = absl::StrFormat("open loop, Poisson %.3g req/s", run.rate);
  if (run.concurrency > 0) absl::StrAppendFormat(&mode, ", at most %d in flight", run.concurrency);
  return mode;
}

std::string ErrorsText(const RunSummary& s) {
  if (s.errors_by_code.empty()) return "none";
  std::vector<std::string> parts;
  for (const auto& [name, count] : s.errors_by_code)
    parts.push_back(absl::StrCat(name, "=", count));
  return absl::StrJoin(parts, ", ");
}

namespace {

// The latency table's header: ms, count, mean, std, the requested percentiles, max.
std::string LatencyHeader(const LatencySummary& l) {
  std::string out = absl::StrFormat("%-8s %9s %9s %9s", "ms", "count", "mean", "std");
  for (const PercentileValue& pv : l.percentiles) {
    absl::StrAppendFormat(&out, " %9s", PercentileLabel(pv.p));
  }
  absl::StrAppendFormat(&out, " %9s\n", "max");
  return out;
}

void AppendLatencyRow(std::string* out, const char* name, const LatencySummary& l) {
  absl::StrAppendFormat(out, "%-8s %9d %9.2f %9.2f", name, l.count, l.mean, l.stddev);
  for (const PercentileValue& pv : l.percentiles) absl::StrAppendFormat(out, " %9.2f", pv.value);
  absl::StrAppendFormat(out, " %9.2f\n", l.max);
}

nlohmann::json LatencyToJson(const LatencySummary& l) {
  nlohmann::json j = {{"count", l.count}, {"mean", l.mean}, {"std", l.stddev}, {"min", l.min},
                      {"p50", l.p50},     {"p90", l.p90},   {"p99", l.p99},    {"max", l.max}};
  for (const PercentileValue& pv : l.percentiles) j[PercentileLabel(pv.p)] = pv.value;
  return j;
}

// A latency in ms, or null when it does not apply (negative).
nlohmann::json MsOrNull(double seconds) {
  return seconds < 0 ? nlohmann::json(nullptr) : nlohmann::json(seconds * 1000.0);
}

nlohmann::json RequestToJson(const RequestRecord& r) {
  std::vector<double> itl;
  AppendItlMs(r, &itl);
  return {{"index", r.index},
          {"prompt_len", r.prompt_len},
          {"max_tokens", r.max_tokens},
          {"cancel_after_tokens", r.cancel_after_tokens},
          {"n", r.n},
          {"outcome", OutcomeName(r.outcome)},
          {"status", StatusCodeName(r.status_code)},
          {"status_message", r.status_message},
          {"tokens", r.tokens},
          {"sample_tokens", r.sample_tokens},
          {"messages", r.messages.size()},
          {"start_ms", r.start_s * 1000.0},
          {"ttft_ms", MsOrNull(r.TtftSeconds())},
          {"tpot_ms", MsOrNull(r.TpotSeconds())},
          {"e2e_ms", r.end_s * 1000.0},
          {"itl_ms", itl},
          {"finish_reason", r.finish_reason},
          {"usage",
           {{"prompt_tokens", r.usage_prompt_tokens},
            {"completion_tokens", r.usage_completion_tokens},
            {"cached_prompt_tokens", r.usage_cached_prompt_tokens}}}};
}

}  // namespace

std::string FormatSummary(const RunReport& run) {
  const RunSummary& s = run.summary;
  std::string out = "============ kvload summary ============\n";
  absl::StrAppendFormat(&out, "%-22s %s\n", "mode:", ModeText(run));
  absl::StrAppendFormat(&out, "%-22s %d finished: %d ok, %d cancelled, %d aborted, %d errors\n",
                        "requests:", s.requests, s.ok, s.cancelled, s.aborted, s.errors);
  absl::StrAppendFormat(&out, "%-22s %s\n", "errors_by_code:", ErrorsText(s));
  absl::StrAppendFormat(&out, "%-22s %.3f\n", "duration_s:", s.duration_s);
  absl::StrAppendFormat(&out, "%-22s %.2f req/s\n", "request_throughput:", s.request_throughput);
  absl::StrAppendFormat(&out, "%-22s %.1f tok/s\n", "output_throughput:", s.output_throughput);
  absl::StrAppendFormat(&out, "%-22s %.1f tok/s\n", "input_throughput:", s.input_throughput);
  absl::StrAppendFormat(&out, "%-22s %.1f tok/s\n",
                        "total_token_throughput:", s.total_token_throughput);
  absl::StrAppendFormat(&out, "%-22s %d\n", "prompt_tokens:", s.prompt_tokens);
  absl::StrAppendFormat(&out, "%-22s %d (ok requests: %d of %d requested)\n",
                        "output_tokens:", s.output_tokens, s.ok_output_tokens, s.requested_tokens);
  if (!s.slo.empty()) {
    absl::StrAppendFormat(&out, "%-22s %s\n", "goodput_slo:", s.slo.ToString());
    absl::StrAppendFormat(&out, "%-22s %d of %d requests (%.1f%%)\n", "slo_met:", s.good,
                          s.requests - s.cancelled, 100.0 * s.goodput_fraction);
    absl::StrAppendFormat(&out, "%-22s %.2f req/s, %.1f tok/s\n", "goodput:", s.request_goodput,
                          s.token_goodput);
  }
  out += LatencyHeader(s.ttft_ms);
  AppendLatencyRow(&out, "ttft", s.ttft_ms);
  AppendLatencyRow(&out, "itl", s.itl_ms);
  AppendLatencyRow(&out, "tpot", s.tpot_ms);
  AppendLatencyRow(&out, "e2e", s.e2e_ms);
  return out;
}

std::string FormatSweepTable(const std::vector<RunReport>& runs) {
  const bool slo = !runs.empty() && !runs.front().summary.slo.empty();
  std::string out = absl::StrFormat("%6s %7s %6s %6s %6s %8s %9s %9s %9s %8s %8s %9s %9s", "conc",
                                    "rate", "ok", "cancel", "errors", "req/s", "tok/s", "ttft_p50",
                                    "ttft_p99", "itl_p50", "itl_p99", "tpot_p50", "e2e_p99");
  if (slo) absl::StrAppendFormat(&out, " %7s %8s", "slo_met", "good/s");
  out += "\n";
  for (const RunReport& run : runs) {
    const RunSummary& s = run.summary;
    const std::string rate = std::isinf(run.rate) ? "-" : absl::StrFormat("%.3g", run.rate);
    absl::StrAppendFormat(&out,
                          "%6d %7s %6d %6d %6d %8.2f %9.1f %9.2f %9.2f %8.2f %8.2f %9.2f %9.2f",
                          run.concurrency, rate, s.ok, s.cancelled, FailedRequests(s),
                          s.request_throughput, s.output_throughput, s.ttft_ms.p50, s.ttft_ms.p99,
                          s.itl_ms.p50, s.itl_ms.p99, s.tpot_ms.p50, s.e2e_ms.p99);
    if (slo)
      absl::StrAppendFormat(&out, " %6.1f%% %8.2f", 100.0 * s.goodput_fraction, s.request_goodput);
    out += "\n";
  }
  out += "(latencies in ms; conc 0 = uncapped; errors include aborted";
  if (slo) absl::StrAppendFormat(&out, "; goodput SLO %s", runs.front().summary.slo.ToString());
  out += ")\n";
  return out;
}

nlohmann::json SummaryToJson(const RunSummary& s) {
  return {{"requests", s.requests},
          {"ok", s.ok},
          {"cancelled", s.cancelled},
          {"aborted", s.aborted},
          {"errors", s.errors},
          {"errors_by_code", s.errors_by_code},
          {"duration_s", s.duration_s},
          {"prompt_tokens", s.prompt_tokens},
          {"output_tokens", s.output_tokens},
          {"ok_output_tokens", s.ok_output_tokens},
          {"requested_tokens", s.requested_tokens},
          {"request_throughput", s.request_throughput},
          {"output_throughput", s.output_throughput},
          {"input_throughput", s.input_throughput},
          {"total_token_throughput", s.total_token_throughput},
          {"goodput", s.slo.empty() ? nlohmann::json(nullptr)
                                    : nlohmann::json{{"slo", s.slo.ToString()},
                                                     {"good", s.good},
                                                     {"fraction", s.goodput_fraction},
                                                     {"request_goodput", s.request_goodput},
                                                     {"token_goodput", s.token_goodput}}},
          {"ttft_ms", LatencyToJson(s.ttft_ms)},
          {"itl_ms", LatencyToJson(s.itl_ms)},
          {"tpot_ms", LatencyToJson(s.tpot_ms)},
          {"e2e_ms", LatencyToJson(s.e2e_ms)}};
}

nlohmann::json RunToJson(const RunReport& run) {
  const Timeline timeline = TokenTimeline(run.result);
  nlohmann::json requests = nlohmann::json::array();
  for (const RequestRecord& r : run.result.requests) requests.push_back(RequestToJson(r));
  return {{"concurrency", run.concurrency},
          {"rate", std::isinf(run.rate) ? nlohmann::json(nullptr) : nlohmann::json(run.rate)},
          {"summary", SummaryToJson(run.summary)},
          {"timeline",
           {{"bucket_s", timeline.bucket_s}, {"output_tokens_per_s", timeline.tokens_per_s}}},
          {"requests", std::move(requests)}};
}

nlohmann::json ReportToJson(const nlohmann::json& config, const nlohmann::json& server,
                            const std::vector<RunReport>& runs) {
  nlohmann::json doc = {{"tool", "kvload"}, {"config", config}, {"server", server}};
  doc["runs"] = nlohmann::json::array();
  for (const RunReport& run : runs) doc["runs"].push_back(RunToJson(run));
  return doc;
}

absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  const size_t written = std::fwrite(text.data(), 1, text.size(), f);
  const bool closed = std::fclose(f) == 0;
  if (written != text.size() || !closed) {
    return absl::DataLossError(absl::StrCat("short write to ", path));
  }
  return absl::OkStatus();
}

}  // namespace kvserve::load
