#include "clients/kvload/svg_canvas.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace kvserve::load {
namespace {

constexpr absl::string_view kFont = "font-family=\"Helvetica, Arial, sans-serif\"";
constexpr absl::string_view kAxisColor = "#444";
constexpr absl::string_view kGridColor = "#e4e4e4";

// Widens a degenerate or non-finite range to something drawable.
void Normalize(double* lo, double* hi) {
  if (!std::isfinite(*lo) || !std::isfinite(*hi)) {
    *lo = 0;
    *hi = 1;
  }
  if (*hi <= *lo) *hi = *lo + (*lo == 0 ? 1 : std::fabs(*lo) * 0.1);
}

}  // namespace

std::string XmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

double NiceStep(double range, int target_ticks) {
  if (!(range > 0) || target_ticks <= 0) return 1;
  const double raw = range / target_ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double m = raw / magnitude;
  const double nice = m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10;
  return nice * magnitude;
}

std::string FormatMs(double ms) {
  if (ms >= 10000) return absl::StrFormat("%.1f s", ms / 1000);
  if (ms >= 100) return absl::StrFormat("%.0f ms", ms);
  if (ms >= 10) return absl::StrFormat("%.1f ms", ms);
  return absl::StrFormat("%.2f ms", ms);
}

std::string TickLabel(double value) {
  if (std::fabs(value) < 1e-12) return "0";
  // Whole numbers below a million in full ("15000", not "1.5e+04").
  if (std::fabs(value) < 1e6 && std::fabs(value - std::round(value)) < 1e-9) {
    return absl::StrFormat("%.0f", value);
  }
  return absl::StrFormat("%.4g", value);
}

SvgCanvas::SvgCanvas(int width, int height) : width_(width), height_(height) {}

void SvgCanvas::Add(absl::string_view element) { absl::StrAppend(&body_, element, "\n"); }

void SvgCanvas::Text(double x, double y, absl::string_view text, int size, absl::string_view anchor,
                     absl::string_view extra) {
  absl::StrAppendFormat(&body_,
                        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\" %s>%s"
                        "</text>\n",
                        x, y, size, anchor, extra, XmlEscape(text));
}

void SvgCanvas::Line(double x1, double y1, double x2, double y2, absl::string_view stroke,
                     double width, absl::string_view extra) {
  absl::StrAppendFormat(&body_,
                        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                        "stroke-width=\"%.2g\" %s/>\n",
                        x1, y1, x2, y2, stroke, width, extra);
}

void SvgCanvas::Rect(double x, double y, double w, double h, absl::string_view fill,
                     absl::string_view extra) {
  absl::StrAppendFormat(&body_,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                        "%s/>\n",
                        x, y, w, h, fill, extra);
}

void SvgCanvas::Polyline(const std::vector<std::pair<double, double>>& points,
                         absl::string_view stroke, double width, absl::string_view extra) {
  if (points.empty()) return;
  std::string coords;
  for (const auto& [x, y] : points) absl::StrAppendFormat(&coords, "%.1f,%.1f ", x, y);
  absl::StrAppendFormat(&body_,
                        "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.2g\" "
                        "stroke-linejoin=\"round\" %s points=\"%s\"/>\n",
                        stroke, width, extra, coords);
}

void SvgCanvas::Circle(double x, double y, double r, absl::string_view fill) {
  absl::StrAppendFormat(&body_, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>\n", x, y,
                        r, fill);
}

std::string SvgCanvas::Finish() const {
  return absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" %s>\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "%s</svg>\n",
      width_, height_, width_, height_, kFont, body_);
}

SvgPanel::SvgPanel(SvgCanvas* canvas, double x, double y, double w, double h)
    : canvas_(canvas), x_(x), y_(y), w_(w), h_(h) {}

void SvgPanel::SetX(double lo, double hi, std::string label) {
  Normalize(&lo, &hi);
  x_lo_ = lo;
  x_hi_ = hi;
  x_label_ = std::move(label);
}

void SvgPanel::SetY(double lo, double hi, std::string label) {
  Normalize(&lo, &hi);
  y_lo_ = lo;
  y_hi_ = hi;
  y_label_ = std::move(label);
}

void SvgPanel::SetY2(double lo, double hi, std::string label) {
  Normalize(&lo, &hi);
  y2_lo_ = lo;
  y2_hi_ = hi;
  y2_label_ = std::move(label);
  has_y2_ = true;
}

double SvgPanel::X(double x) const { return x_ + (x - x_lo_) / (x_hi_ - x_lo_) * w_; }
double SvgPanel::Y(double y) const { return y_ + h_ - (y - y_lo_) / (y_hi_ - y_lo_) * h_; }
double SvgPanel::Y2(double y) const { return y_ + h_ - (y - y2_lo_) / (y2_hi_ - y2_lo_) * h_; }

void SvgPanel::DrawAxes(absl::string_view title) {
  SvgCanvas& c = *canvas_;
  // Ticks at multiples of a nice step inside each range (at most a few dozen by construction).
  const double x_step = NiceStep(x_hi_ - x_lo_, 6);
  for (double t = std::ceil(x_lo_ / x_step) * x_step; t <= x_hi_ + x_step * 1e-9; t += x_step) {
    c.Line(X(t), y_, X(t), y_ + h_, kGridColor);
    c.Line(X(t), y_ + h_, X(t), y_ + h_ + 4, kAxisColor);
    c.Text(X(t), y_ + h_ + 17, TickLabel(t), 11, "middle");
  }
  const double y_step = NiceStep(y_hi_ - y_lo_, 5);
  for (double t = std::ceil(y_lo_ / y_step) * y_step; t <= y_hi_ + y_step * 1e-9; t += y_step) {
    c.Line(x_, Y(t), x_ + w_, Y(t), kGridColor);
    c.Line(x_ - 4, Y(t), x_, Y(t), kAxisColor);
    c.Text(x_ - 7, Y(t) + 4, TickLabel(t), 11, "end");
  }
  if (has_y2_) {
    const double step = NiceStep(y2_hi_ - y2_lo_, 5);
    for (double t = std::ceil(y2_lo_ / step) * step; t <= y2_hi_ + step * 1e-9; t += step) {
      c.Line(x_ + w_, Y2(t), x_ + w_ + 4, Y2(t), kAxisColor);
      c.Text(x_ + w_ + 7, Y2(t) + 4, TickLabel(t), 11, "start");
    }
    c.Text(x_ + w_ + 42, y_ + h_ / 2, y2_label_, 12, "middle",
           absl::StrFormat("transform=\"rotate(90 %.1f %.1f)\"", x_ + w_ + 42, y_ + h_ / 2));
  }
  c.Rect(x_, y_, w_, h_, "none", absl::StrCat("stroke=\"", kAxisColor, "\""));
  c.Text(x_ + w_ / 2, y_ + h_ + 36, x_label_, 12, "middle");
  c.Text(x_ - 48, y_ + h_ / 2, y_label_, 12, "middle",
         absl::StrFormat("transform=\"rotate(-90 %.1f %.1f)\"", x_ - 48, y_ + h_ / 2));
  c.Text(x_ + w_ / 2, y_ - 10, title, 14, "middle", "font-weight=\"bold\"");
}

void SvgPanel::LegendRow(double row_y) {
  // A translucent backing so that data under the legend does not cross its text.
  canvas_->Rect(x_ + w_ - 176, row_y - 13, 172, 18, "white", "fill-opacity=\"0.75\"");
}

void SvgPanel::Legend(absl::string_view color, absl::string_view text, bool dashed) {
  const double row_y = y_ + 16 + 18 * legend_rows_++;
  const double x = x_ + w_ - 170;
  LegendRow(row_y);
  canvas_->Line(x, row_y - 4, x + 22, row_y - 4, color, 3,
                dashed ? "stroke-dasharray=\"5,3\"" : "");
  canvas_->Text(x + 28, row_y, text, 11);
}

void SvgPanel::Note(absl::string_view text) {
  const double row_y = y_ + 16 + 18 * legend_rows_++;
  LegendRow(row_y);
  canvas_->Text(x_ + w_ - 170, row_y, text, 10, "start", "fill=\"#666\"");
}

}  // namespace kvserve::load
