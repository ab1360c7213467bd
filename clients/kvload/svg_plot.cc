#include "clients/kvload/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "clients/kvload/latency_stats.h"
#include "clients/kvload/metrics.h"
#include "clients/kvload/svg_canvas.h"

namespace kvserve::load {
namespace {

constexpr absl::string_view kBarColor = "#9ecae1";
constexpr absl::string_view kCdfColor = "#d62728";
constexpr absl::string_view kP50Color = "#2ca02c";
constexpr absl::string_view kP99Color = "#ff7f0e";
constexpr absl::string_view kTtftColor = "#1f77b4";
constexpr absl::string_view kItlColor = "#9467bd";
constexpr size_t kMaxCdfPoints = 400;

// The upper end of the x axis for a latency distribution: the maximum, unless a few outliers
// would squash the rest, then 1.5 × p99.
double AxisEnd(const std::vector<double>& sorted) {
  const double p99 = PercentileOfSorted(sorted, 99);
  const double max = sorted.back();
  return (max > 3 * p99 && p99 > 0) ? 1.5 * p99 : max;
}

// Histogram (bars, left axis) and CDF (line, right axis) of `samples` (ms); the axis is in
// seconds when the latencies run to seconds.
void DrawDistribution(SvgCanvas* canvas, double x, double y, double w, double h,
                      std::vector<double> samples, absl::string_view name, absl::string_view id) {
  SvgPanel panel(canvas, x, y, w, h);
  const std::string title = absl::StrCat(name, " distribution (", samples.size(), " samples)");
  if (samples.empty()) {
    panel.SetX(0, 1, absl::StrCat(name, " (ms)"));
    panel.SetY(0, 1, "requests");
    panel.DrawAxes(title);
    canvas->Text(x + w / 2, y + h / 2, "no samples", 13, "middle", "fill=\"#888\"");
    return;
  }
  std::sort(samples.begin(), samples.end());
  // Long latencies read better in seconds: from here on values are in axis units.
  const double ms_per_unit = AxisEnd(samples) >= 5000 ? 1000.0 : 1.0;
  for (double& s : samples) s /= ms_per_unit;
  const double p50 = PercentileOfSorted(samples, 50);
  const double p99 = PercentileOfSorted(samples, 99);
  double hi = AxisEnd(samples);
  if (!(hi > 0)) hi = 1;
  const int bins =
      std::clamp(static_cast<int>(std::sqrt(static_cast<double>(samples.size()))), 10, 50);
  const double bin_w = hi / bins;
  std::vector<int64_t> counts(static_cast<size_t>(bins), 0);
  int64_t beyond = 0;
  for (double s : samples) {
    if (s > hi) {
      ++beyond;
      continue;
    }
    counts[std::min<size_t>(static_cast<size_t>(s / bin_w), counts.size() - 1)]++;
  }
  const int64_t top = *std::max_element(counts.begin(), counts.end());

  panel.SetX(0, hi, absl::StrCat(name, ms_per_unit > 1 ? " (s)" : " (ms)"));
  panel.SetY(0, std::max<double>(1, top * 1.45), "samples per bin");  // room for the legend
  panel.SetY2(0, 1.0, "CDF");
  panel.DrawAxes(title);

  canvas->Add(absl::StrFormat("<g id=\"%s-hist\">", id));
  for (int b = 0; b < bins; ++b) {
    if (counts[b] == 0) continue;
    const double x0 = panel.X(b * bin_w);
    const double x1 = panel.X((b + 1) * bin_w);
    canvas->Rect(x0 + 0.5, panel.Y(counts[b]), std::max(0.5, x1 - x0 - 1),
                 panel.Y(0) - panel.Y(counts[b]), kBarColor);
  }
  canvas->Add("</g>");

  // The CDF as a step line through (sample, fraction at or below it), thinned to kMaxCdfPoints.
  std::vector<std::pair<double, double>> cdf;
  const size_t n = samples.size();
  const size_t stride = std::max<size_t>(1, n / kMaxCdfPoints);
  cdf.emplace_back(panel.X(0), panel.Y2(0));
  for (size_t i = 0; i < n; i += stride) {
    if (samples[i] > hi) break;
    cdf.emplace_back(panel.X(samples[i]), panel.Y2(static_cast<double>(i + 1) / n));
  }
  if (samples.back() <= hi) cdf.emplace_back(panel.X(samples.back()), panel.Y2(1.0));
  canvas->Add(absl::StrFormat("<g id=\"%s-cdf\">", id));
  canvas->Polyline(cdf, kCdfColor, 2);
  canvas->Add("</g>");

  for (const auto& [value, color] : {std::pair{p50, kP50Color}, std::pair{p99, kP99Color}}) {
    if (value > hi) continue;
    canvas->Line(panel.X(value), y, panel.X(value), y + h, color, 1.5, "stroke-dasharray=\"5,3\"");
  }
  panel.Legend(kBarColor, "histogram (left axis)");
  panel.Legend(kCdfColor, "CDF (right axis)");
  panel.Legend(kP50Color, absl::StrCat("p50 = ", FormatMs(p50 * ms_per_unit)), /*dashed=*/true);
  panel.Legend(kP99Color, absl::StrCat("p99 = ", FormatMs(p99 * ms_per_unit)), /*dashed=*/true);
  if (beyond > 0) {
    panel.Note(absl::StrFormat("%d beyond %s (max %s)", beyond, FormatMs(hi * ms_per_unit),
                               FormatMs(samples.back() * ms_per_unit)));
  }
}

void DrawTimeline(SvgCanvas* canvas, double x, double y, double w, double h,
                  const RunResult& result) {
  const Timeline timeline = TokenTimeline(result);
  const std::vector<double>& rate = timeline.tokens_per_s;
  SvgPanel panel(canvas, x, y, w, h);
  const double top = rate.empty() ? 1 : *std::max_element(rate.begin(), rate.end());
  const double span = static_cast<double>(rate.size()) * timeline.bucket_s;
  panel.SetX(0, rate.empty() ? 1 : span, "time since the first request (s)");
  panel.SetY(0, std::max(1.0, top * 1.3), "output tokens/s");
  panel.DrawAxes(absl::StrFormat("Output tokens/s over time (%.3g s buckets)", timeline.bucket_s));
  // A step line: each bucket's rate held over its width.
  std::vector<std::pair<double, double>> steps;
  for (size_t i = 0; i < rate.size(); ++i) {
    steps.emplace_back(panel.X(i * timeline.bucket_s), panel.Y(rate[i]));
    steps.emplace_back(panel.X((i + 1) * timeline.bucket_s), panel.Y(rate[i]));
  }
  canvas->Add("<g id=\"tokens-timeline\">");
  canvas->Polyline(steps, kTtftColor, 2);
  canvas->Add("</g>");
  if (result.duration_s > 0) {
    double tokens = 0;
    for (const RequestRecord& r : result.requests) tokens += static_cast<double>(r.tokens);
    const double mean = tokens / result.duration_s;
    canvas->Line(panel.X(0), panel.Y(mean), panel.X(panel.x_hi()), panel.Y(mean), kP99Color, 1.5,
                 "stroke-dasharray=\"5,3\"");
    panel.Legend(kTtftColor, "per bucket");
    panel.Legend(kP99Color, absl::StrFormat("mean %.0f tok/s", mean), /*dashed=*/true);
  }
}

// One latency (selected by `pick`) of every sweep run against its output throughput.
template <typename Pick>
std::vector<std::pair<double, double>> SweepPoints(const std::vector<RunReport>& runs, Pick pick) {
  std::vector<std::pair<double, double>> points;
  for (const RunReport& run : runs) {
    points.emplace_back(run.summary.output_throughput, pick(run.summary));
  }
  return points;
}

void DrawSweepPanel(SvgCanvas* canvas, double x, double y, double w, double h,
                    const std::vector<RunReport>& runs, absl::string_view name,
                    absl::string_view id, absl::string_view color,
                    const std::vector<std::pair<double, double>>& p50,
                    const std::vector<std::pair<double, double>>& p99) {
  double x_max = 0, y_max = 0;
  for (const auto& series : {p50, p99}) {
    for (const auto& [tps, ms] : series) {
      x_max = std::max(x_max, tps);
      y_max = std::max(y_max, ms);
    }
  }
  SvgPanel panel(canvas, x, y, w, h);
  panel.SetX(0, std::max(1.0, x_max * 1.15), "output throughput (tokens/s)");
  panel.SetY(0, std::max(1e-3, y_max * 1.15), absl::StrCat(name, " (ms)"));
  panel.DrawAxes(absl::StrCat(name, " latency vs throughput"));
  for (const auto& [series, pct, dashed] :
       {std::tuple{&p99, "p99", false}, std::tuple{&p50, "p50", true}}) {
    std::vector<std::pair<double, double>> pixels;
    for (const auto& [tps, ms] : *series) pixels.emplace_back(panel.X(tps), panel.Y(ms));
    canvas->Add(absl::StrFormat("<g id=\"sweep-%s-%s\">", id, pct));
    canvas->Polyline(pixels, color, 2, dashed ? "stroke-dasharray=\"6,4\"" : "");
    for (const auto& [px, py] : pixels) canvas->Circle(px, py, 3.5, color);
    canvas->Add("</g>");
    panel.Legend(color, absl::StrCat(name, " ", pct), dashed);
  }
  // Label the p99 points with their concurrency.
  for (size_t i = 0; i < runs.size(); ++i) {
    canvas->Text(panel.X(p99[i].first) + 6, panel.Y(p99[i].second) - 6,
                 absl::StrCat("c=", runs[i].concurrency), 11);
  }
}

std::string Subtitle(const RunReport& run) {
  const RunSummary& s = run.summary;
  return absl::StrFormat(
      "%s  |  %d ok, %d cancelled, %d errors, %d aborted  |  %.1f tok/s, %.2f req/s over %.1f s",
      ModeText(run), s.ok, s.cancelled, s.errors, s.aborted, s.output_throughput,
      s.request_throughput, s.duration_s);
}

}  // namespace

std::string RunPlotSvg(const RunReport& run, absl::string_view title) {
  SvgCanvas canvas(1200, 860);
  canvas.Text(600, 28, title, 18, "middle", "font-weight=\"bold\"");
  canvas.Text(600, 50, Subtitle(run), 12, "middle", "fill=\"#444\"");
  DrawDistribution(&canvas, 80, 100, 440, 300, TtftSamplesMs(run.result), "TTFT", "ttft");
  DrawDistribution(&canvas, 680, 100, 440, 300, ItlSamplesMs(run.result), "ITL", "itl");
  DrawTimeline(&canvas, 80, 500, 1040, 290, run.result);
  return canvas.Finish();
}

std::string SweepPlotSvg(const std::vector<RunReport>& runs, absl::string_view title) {
  SvgCanvas canvas(1200, 520);
  canvas.Text(600, 28, title, 18, "middle", "font-weight=\"bold\"");
  std::string concurrencies;
  for (const RunReport& run : runs) {
    absl::StrAppend(&concurrencies, concurrencies.empty() ? "" : ", ", run.concurrency);
  }
  canvas.Text(600, 50, absl::StrCat("closed loop at concurrency ", concurrencies), 12, "middle",
              "fill=\"#444\"");
  DrawSweepPanel(&canvas, 90, 100, 430, 330, runs, "TTFT", "ttft", kTtftColor,
                 SweepPoints(runs, [](const RunSummary& s) { return s.ttft_ms.p50; }),
                 SweepPoints(runs, [](const RunSummary& s) { return s.ttft_ms.p99; }));
  DrawSweepPanel(&canvas, 690, 100, 430, 330, runs, "ITL", "itl", kItlColor,
                 SweepPoints(runs, [](const RunSummary& s) { return s.itl_ms.p50; }),
                 SweepPoints(runs, [](const RunSummary& s) { return s.itl_ms.p99; }));
  return canvas.Finish();
}

}  // namespace kvserve::load
