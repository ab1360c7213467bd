#include "clients/kvload/svg_plot.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "clients/kvload/metrics.h"
#include "clients/kvload/svg_canvas.h"
#include "gtest/gtest.h"

namespace kvserve::load {
namespace {

RunReport SyntheticRun(int concurrency, int requests) {
  RunReport run;
  run.concurrency = concurrency;
  run.rate = std::numeric_limits<double>::infinity();
  for (int i = 0; i < requests; ++i) {
    RequestRecord r;
    r.index = i;
    r.start_s = 0.01 * i;
    double t = 0.05 + 0.001 * (i % 17);
    for (int k = 0; k < 8; ++k) {
      r.messages.push_back({t, 1});
      t += 0.01 + 0.0005 * ((i + k) % 5);
    }
    r.tokens = 8;
    r.max_tokens = 8;
    r.end_s = t;
    run.result.requests.push_back(r);
  }
  run.result.duration_s = 0.01 * requests + 0.2;
  run.summary = SummarizeRun(run.result);
  return run;
}

int Count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

void ExpectWellFormedish(const std::string& svg) {
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  ASSERT_GE(svg.size(), 7u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(Count(svg, "<svg"), 1);
  EXPECT_EQ(Count(svg, "<g "), Count(svg, "</g>"));
  EXPECT_EQ(Count(svg, "<text"), Count(svg, "</text>"));
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  // Self-contained: no scripts or external references.
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("href"), std::string::npos);
}

TEST(SvgPlotTest, RunPlotHasDistributionsAndTimeline) {
  const std::string svg = RunPlotSvg(SyntheticRun(16, 200), "test <run> & more");
  ExpectWellFormedish(svg);
  for (const char* id : {"ttft-hist", "ttft-cdf", "itl-hist", "itl-cdf", "tokens-timeline"}) {
    EXPECT_NE(svg.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
  EXPECT_NE(svg.find("test &lt;run&gt; &amp; more"), std::string::npos);
  EXPECT_NE(svg.find("TTFT distribution"), std::string::npos);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find("<rect"), std::string::npos);
}

TEST(SvgPlotTest, EmptyRunStillDrawsAValidFigure) {
  RunReport run;
  run.rate = std::numeric_limits<double>::infinity();
  const std::string svg = RunPlotSvg(run, "empty");
  ExpectWellFormedish(svg);
  EXPECT_NE(svg.find("no samples"), std::string::npos);
}

TEST(SvgPlotTest, SweepPlotHasP99SeriesPerMetric) {
  std::vector<RunReport> runs;
  for (int c : {1, 8, 32}) runs.push_back(SyntheticRun(c, 40 * c));
  const std::string svg = SweepPlotSvg(runs, "sweep");
  ExpectWellFormedish(svg);
  for (const char* id : {"sweep-ttft-p99", "sweep-itl-p99", "sweep-ttft-p50", "sweep-itl-p50"}) {
    EXPECT_NE(svg.find(std::string("id=\"") + id + "\""), std::string::npos) << id;
  }
  for (const char* label : {"c=1", "c=8", "c=32"}) {
    EXPECT_EQ(Count(svg, std::string(">") + label + "<"), 2) << label;  // one per panel
  }
}

TEST(SvgCanvasTest, NiceStepsAndLabels) {
  EXPECT_DOUBLE_EQ(NiceStep(100, 5), 20);
  EXPECT_DOUBLE_EQ(NiceStep(7, 6), 2);
  EXPECT_NEAR(NiceStep(0.3, 6), 0.05, 1e-12);
  EXPECT_DOUBLE_EQ(NiceStep(0, 5), 1);
  EXPECT_EQ(TickLabel(0), "0");
  EXPECT_EQ(TickLabel(2.5), "2.5");
  EXPECT_EQ(TickLabel(1200), "1200");
  EXPECT_EQ(XmlEscape("a<b>&\"c"), "a&lt;b&gt;&amp;&quot;c");
}

}  // namespace
}  // namespace kvserve::load
