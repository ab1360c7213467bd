// SvgCanvas and SvgPanel: just enough hand-written SVG for kvload's charts, with no dependencies.
//
// An SvgCanvas is a document of fixed size that collects elements; Finish() returns the text,
// "<svg ...> ... </svg>\n". An SvgPanel is a rectangle on a canvas with linear x and y ranges
// (and optionally a second y range on the right): it draws its frame, ticks at 1-2-5 steps, axis
// labels and a title, and maps data coordinates to the canvas. Text is XML-escaped.
//
// Threads: plain values; use one from one thread at a time.
#ifndef KVSERVE_CLIENTS_KVLOAD_SVG_CANVAS_H_
#define KVSERVE_CLIENTS_KVLOAD_SVG_CANVAS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace kvserve::load {

// "&", "<", ">", '"' as XML entities.
std::string XmlEscape(absl::string_view text);

// A step of the 1-2-5 series near range / target_ticks (> 0 for range > 0).
double NiceStep(double range, int target_ticks);
// A short label for a tick value ("0", "2.5", "1200", "1.2e+06").
std::string TickLabel(double value);

// A latency for labels: "18.8 s", "4028 ms", "61.1 ms", "3.25 ms".
std::string FormatMs(double ms);

class SvgCanvas {
 public:
  SvgCanvas(int width, int height);

  // Raw element text, appended as is.
  void Add(absl::string_view element);
  void Text(double x, double y, absl::string_view text, int size = 12,
            absl::string_view anchor = "start", absl::string_view extra = "");
  void Line(double x1, double y1, double x2, double y2, absl::string_view stroke, double width = 1,
            absl::string_view extra = "");
  void Rect(double x, double y, double w, double h, absl::string_view fill,
            absl::string_view extra = "");
  void Polyline(const std::vector<std::pair<double, double>>& points, absl::string_view stroke,
                double width = 1.5, absl::string_view extra = "");
  void Circle(double x, double y, double r, absl::string_view fill);

  int width() const { return width_; }
  int height() const { return height_; }
  std::string Finish() const;

 private:
  int width_;
  int height_;
  std::string body_;
};

class SvgPanel {
 public:
  // The plotting area is (x, y, w, h) in canvas pixels; axes and labels go around it.
  SvgPanel(SvgCanvas* canvas, double x, double y, double w, double h);

  // Data ranges; a degenerate range is widened so that mapping stays finite.
  void SetX(double lo, double hi, std::string label);
  void SetY(double lo, double hi, std::string label);
  void SetY2(double lo, double hi, std::string label);  // right axis

  // Frame, grid, ticks, axis labels and title. Call after the Set* calls.
  void DrawAxes(absl::string_view title);

  // Data → canvas coordinates.
  double X(double x) const;
  double Y(double y) const;
  double Y2(double y) const;

  // A legend entry (colour swatch and text), stacked in the panel's top-right corner.
  void Legend(absl::string_view color, absl::string_view text, bool dashed = false);
  // A small note under the legend, e.g. "3 samples beyond 40 ms not shown".
  void Note(absl::string_view text);

  double x_lo() const { return x_lo_; }
  double x_hi() const { return x_hi_; }
  double y_hi() const { return y_hi_; }
  double left() const { return x_; }
  double top() const { return y_; }
  double width() const { return w_; }
  double height() const { return h_; }

 private:
  void LegendRow(double row_y);

  SvgCanvas* canvas_;
  double x_, y_, w_, h_;
  double x_lo_ = 0, x_hi_ = 1, y_lo_ = 0, y_hi_ = 1, y2_lo_ = 0, y2_hi_ = 1;
  std::string x_label_, y_label_, y2_label_;
  bool has_y2_ = false;
  int legend_rows_ = 0;
};

}  // namespace kvserve::load

#endif  // KVSERVE_CLIENTS_KVLOAD_SVG_CANVAS_H_
