// Line charts written as standalone SVG by our own code, for the plots of a run (`dgr report`):
// training curves and Recall@k. No plotting library, no fonts to install; any browser shows them.
//
// Guarantees:
// - The output is one well-formed, standalone SVG document (XML declaration, the SVG namespace,
//   a viewBox, every text escaped).
// - Axes run over "nice" ranges: ticks are 1, 2 or 5 x 10^k apart on a linear axis and at powers
//   of ten (with 2 and 5 between them when the range spans fewer than three decades) on a log
//   axis; the axis range is widened to whole ticks, so every finite point lies inside the plot.
// - A point with a non-finite coordinate (or one <= 0 on a log axis) is never written: it ends the
//   line, which resumes at the next drawable point. A drawable point between two gaps is drawn
//   as a dot, so it does not vanish.
// - Every series group carries its name (`data-series`) and its drawn points in data units
//   (`data-points="x,y x,y ..."`), so tests and scripts can read the values back; markers carry a
//   <title> with the series name and the point.
// - The plot area depends on ChartSize alone: it is [margin_left, width - margin_right] x
//   [margin_top, height - margin_bottom] of the panel, whatever the labels or the legend (which
//   sits in the right margin).
#pragma once

#include <string>
#include <vector>

namespace dgr::eval {

// One named line. x and y have the same length.
struct Series {
  std::string name;
  std::vector<double> x;
  std::vector<double> y;
  bool markers = false;  // a dot on every drawn point
  bool dashed = false;
  int colour = -1;  // index into the palette; -1: the series' position in the chart
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;
  bool log_y = false;          // for values spanning decades (e.g. a loss and its small terms)
  std::vector<Series> series;  // colours follow this order unless a series names its own
};

// The pixel size of one chart (one panel of a figure).
struct ChartSize {
  double width = 560;
  double height = 340;
  double margin_left = 72;
  double margin_right = 180;  // the legend
  double margin_top = 34;
  double margin_bottom = 52;
};

// One axis: its range, its tick values and whether it is logarithmic.
struct Axis {
  double lo = 0;
  double hi = 1;
  double step = 0.2;  // linear axes: the distance between ticks
  bool log = false;
  std::vector<double> ticks;

  // Where `value` lands between pixel `from` (at lo) and pixel `to` (at hi).
  double to_pixel(double value, double from, double to) const;
};

// The smallest of 1, 2, 5 x 10^k that is >= `raw` (raw > 0).
double nice_step(double raw);
// A linear axis covering [min, max] with about `target_ticks` ticks. min == max gets a range
// around the value; non-finite bounds give [0, 1].
Axis linear_axis(double min, double max, int target_ticks = 5);
// A log axis covering [min, max] (both > 0) from one power of ten to another.
Axis log_axis(double min, double max);

// Where a chart's points go: the plot area in panel pixels and the two axes.
struct ChartLayout {
  double left = 0, right = 0, top = 0, bottom = 0;
  Axis x;
  Axis y;

  double x_pixel(double value) const { return x.to_pixel(value, left, right); }
  double y_pixel(double value) const { return y.to_pixel(value, bottom, top); }
};

// The axes of `chart` (from its drawable points) placed in a panel of `size`.
ChartLayout layout_chart(const LineChart& chart, const ChartSize& size = {});

// A tick label: as many decimals as the step needs ("0.25", "100"), scientific notation for
// very small or large values ("3e-4", "2.5e6").
std::string format_tick(double value, double step);
// `text` with &, <, >, " and ' escaped for XML text and attribute values.
std::string escape_xml(const std::string& text);

// Several charts on one page: rows of panels on a grid as wide as the longest row (a shorter
// row leaves its last cells empty).
struct Figure {
  std::string title;  // above the grid; may be empty
  std::vector<std::vector<LineChart>> rows;
  ChartSize panel;
};

// The SVG document of one chart, and of a figure.
std::string render_svg(const LineChart& chart, const ChartSize& size = {});
std::string render_svg(const Figure& figure);

}  // namespace dgr::eval
