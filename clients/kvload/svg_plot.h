// SVG figures of kvload's results, self-contained (no scripts, fonts or links).
//
//   RunPlotSvg:   TTFT histogram + CDF, ITL histogram + CDF, output tokens/s over time.
//   SweepPlotSvg: p50/p99 TTFT and p50/p99 ITL against output throughput, one point per
//                 concurrency of a --sweep.
// Each data series is a <g> with a stable id (ttft-hist, ttft-cdf, itl-hist, itl-cdf,
// tokens-timeline; sweep-ttft-p99, sweep-ttft-p50, sweep-itl-p99, sweep-itl-p50), so tools and
// tests can find them.
//
// Threads: plain functions.
#ifndef KVSERVE_CLIENTS_KVLOAD_SVG_PLOT_H_
#define KVSERVE_CLIENTS_KVLOAD_SVG_PLOT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "clients/kvload/report.h"

namespace kvserve::load {

std::string RunPlotSvg(const RunReport& run, absl::string_view title);
std::string SweepPlotSvg(const std::vector<RunReport>& runs, absl::string_view title);

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_SVG_PLOT_H_
