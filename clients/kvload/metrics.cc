#include "clients/kvload/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace kvserve::load {
namespace {

constexpr double kMs = 1000.0;

}  // namespace

void AppendItlMs(const RequestRecord& r, std::vector<double>* out) {
  // The previous token message of each sample, by index (-1: none yet).
  std::vector<double> previous_t;
  for (const TokenMessage& m : r.messages) {
    if (m.index < 0) continue;
    const size_t index = static_cast<size_t>(m.index);
    if (index >= previous_t.size()) previous_t.resize(index + 1, -1);
    if (previous_t[index] >= 0) {
      const double per_token = (m.t_s - previous_t[index]) * kMs / m.tokens;
      out->insert(out->end(), static_cast<size_t>(m.tokens), per_token);
    }
    previous_t[index] = m.t_s;
  }
}

RunSummary SummarizeRun(const RunResult& result, const SummaryOptions& options) {
  RunSummary s;
  s.slo = options.slo;
  std::vector<double> ttft, itl, tpot, e2e;
  int64_t good_tokens = 0;
  for (const RequestRecord& r : result.requests) {
    ++s.requests;
    s.prompt_tokens += r.usage_prompt_tokens > 0 ? r.usage_prompt_tokens : r.prompt_len;
    s.output_tokens += r.tokens;
    switch (r.outcome) {
      case Outcome::kOk:
        ++s.ok;
        break;
      case Outcome::kCancelled:
        ++s.cancelled;
        break;
      case Outcome::kAborted:
        ++s.aborted;
        break;
      case Outcome::kError:
        ++s.errors;
        ++s.errors_by_code[StatusCodeName(r.status_code)];
        break;
    }
    if (r.outcome != Outcome::kOk) continue;
    if (options.slo.Met(r)) {
      ++s.good;
      good_tokens += r.tokens;
    }
    s.requested_tokens += static_cast<int64_t>(r.max_tokens) * r.n;
    s.ok_output_tokens += r.tokens;
    if (r.TtftSeconds() >= 0) ttft.push_back(r.TtftSeconds() * kMs);
    if (r.TpotSeconds() >= 0) tpot.push_back(r.TpotSeconds() * kMs);
    e2e.push_back(r.end_s * kMs);
    AppendItlMs(r, &itl);
  }
  s.duration_s = result.duration_s;
  if (s.duration_s > 0) {
    s.request_throughput = static_cast<double>(s.ok) / s.duration_s;
    s.output_throughput = static_cast<double>(s.output_tokens) / s.duration_s;
    s.input_throughput = static_cast<double>(s.prompt_tokens) / s.duration_s;
    s.total_token_throughput = s.input_throughput + s.output_throughput;
    s.request_goodput = static_cast<double>(s.good) / s.duration_s;
    s.token_goodput = static_cast<double>(good_tokens) / s.duration_s;
  }
  if (s.requests > s.cancelled) {
    s.goodput_fraction =
        static_cast<double>(s.good) / static_cast<double>(s.requests - s.cancelled);
  }
  s.ttft_ms = Summarize(ttft, options.percentiles);
  s.itl_ms = Summarize(itl, options.percentiles);
  s.tpot_ms = Summarize(tpot, options.percentiles);
  s.e2e_ms = Summarize(e2e, options.percentiles);
  return s;
}

std::vector<double> TtftSamplesMs(const RunResult& result) {
  std::vector<double> out;
  for (const RequestRecord& r : result.requests) {
    if (r.outcome == Outcome::kOk && r.TtftSeconds() >= 0) out.push_back(r.TtftSeconds() * kMs);
  }
  return out;
}

std::vector<double> ItlSamplesMs(const RunResult& result) {
  std::vector<double> out;
  for (const RequestRecord& r : result.requests) {
    if (r.outcome == Outcome::kOk) AppendItlMs(r, &out);
  }
  return out;
}

Timeline TokenTimeline(const RunResult& result, int max_buckets) {
  Timeline timeline;
  double first = std::numeric_limits<double>::infinity();
  double last = 0;
  for (const RequestRecord& r : result.requests) {
    first = std::min(first, r.start_s);
    for (const TokenMessage& m : r.messages) last = std::max(last, r.start_s + m.t_s);
  }
  if (!(last > first)) return timeline;
  const double span = last - first;
  max_buckets = std::max(1, max_buckets);
  // The smallest width of the 1-2-5 series that fits the span in max_buckets.
  double width = 0.1;
  for (int i = 0; span / width > max_buckets && i < 60; ++i) {
    const double mantissa = width / std::pow(10.0, std::floor(std::log10(width) + 1e-9));
    width *= (mantissa < 1.5 || mantissa > 4) ? 2 : 2.5;
  }
  timeline.bucket_s = width;
  const size_t n = static_cast<size_t>(std::floor(span / width)) + 1;
  timeline.tokens_per_s.assign(n, 0.0);
  for (const RequestRecord& r : result.requests) {
    for (const TokenMessage& m : r.messages) {
      const size_t b = std::min(n - 1, static_cast<size_t>((r.start_s + m.t_s - first) / width));
      timeline.tokens_per_s[b] += m.tokens;
    }
  }
  for (double& x : timeline.tokens_per_s) x /= width;
  return timeline;
}

}  // namespace kvserve::load
