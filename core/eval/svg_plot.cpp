#include "core/eval/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace dgr::eval {
namespace {

// Tolerance of the tick arithmetic: 0.7 / 0.1 is 7.000000000000001, which must not add a tick.
constexpr double kTickEpsilon = 1e-9;

// Categorical colours that stay apart for the usual colour-vision deficiencies.
constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

// Approximate advance of one character at the legend's font size, to size the legend's lines.
constexpr double kCharWidth = 6.4;

// Pixel coordinates: two decimals are far below what a screen resolves.
std::string px(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f", value);
  std::string s = text;
  // "12.50" -> "12.5", "12.00" -> "12": shorter files, same picture.
  while (s.back() == '0')
    s.pop_back();
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  return s;
}

// Data values as written in data-points and titles: enough digits to read back what was plotted.
std::string data_value(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.12g", value);
  return text;
}

bool drawable(const LineChart& chart, double x, double y) {
  return std::isfinite(x) && std::isfinite(y) && (!chart.log_x || x > 0) && (!chart.log_y || y > 0);
}

// The drawable points of one series, split where a point is not drawable.
std::vector<std::vector<std::pair<double, double>>> segments(const LineChart& chart,
                                                             const Series& s) {
  std::vector<std::vector<std::pair<double, double>>> out(1);
  const size_t n = std::min(s.x.size(), s.y.size());
  for (size_t i = 0; i < n; ++i) {
    if (drawable(chart, s.x[i], s.y[i])) {
      out.back().emplace_back(s.x[i], s.y[i]);
    } else if (!out.back().empty()) {
      out.emplace_back();
    }
  }
  if (out.back().empty()) out.pop_back();
  return out;
}

// The colour of the series at `position`, and whether it is dashed: past the palette, colours
// repeat, and the repeats are dashed so the lines stay apart.
std::string colour_of(const Series& s, size_t position) {
  const size_t index = s.colour >= 0 ? static_cast<size_t>(s.colour) : position;
  return kPalette[index % kPaletteSize];
}
bool dashed_of(const Series& s, size_t position) {
  const size_t index = s.colour >= 0 ? static_cast<size_t>(s.colour) : position;
  return s.dashed || index >= kPaletteSize;
}

std::string text_element(double x, double y, const std::string& text, const std::string& anchor,
                         const std::string& extra = "") {
  return "<text x=\"" + px(x) + "\" y=\"" + px(y) + "\" text-anchor=\"" + anchor + "\"" + extra +
         ">" + escape_xml(text) + "</text>\n";
}

void render_chart(std::ostringstream& out, const LineChart& chart, const ChartSize& size,
                  double offset_x, double offset_y) {
  const ChartLayout l = layout_chart(chart, size);
  out << "<g class=\"chart\" transform=\"translate(" << px(offset_x) << "," << px(offset_y)
      << ")\">\n";
  if (!chart.title.empty()) {
    out << text_element((l.left + l.right) / 2, l.top - 12, chart.title, "middle",
                        " font-size=\"13\" font-weight=\"bold\"");
  }

  // Grid lines and tick labels first, so the data is drawn over them.
  out << "<g class=\"grid\" stroke=\"#e4e4e4\" stroke-width=\"1\">\n";
  for (double t : l.x.ticks) {
    const std::string x = px(l.x_pixel(t));
    out << "<line x1=\"" << x << "\" y1=\"" << px(l.top) << "\" x2=\"" << x << "\" y2=\""
        << px(l.bottom) << "\"/>\n";
  }
  for (double t : l.y.ticks) {
    const std::string y = px(l.y_pixel(t));
    out << "<line x1=\"" << px(l.left) << "\" y1=\"" << y << "\" x2=\"" << px(l.right) << "\" y2=\""
        << y << "\"/>\n";
  }
  out << "</g>\n";
  out << "<rect x=\"" << px(l.left) << "\" y=\"" << px(l.top) << "\" width=\""
      << px(l.right - l.left) << "\" height=\"" << px(l.bottom - l.top)
      << "\" fill=\"none\" stroke=\"#777\" stroke-width=\"1\"/>\n";
  out << "<g class=\"x-ticks\" fill=\"#333\">\n";
  for (double t : l.x.ticks) {
    out << text_element(l.x_pixel(t), l.bottom + 16, format_tick(t, l.x.log ? t : l.x.step),
                        "middle");
  }
  out << "</g>\n<g class=\"y-ticks\" fill=\"#333\">\n";
  for (double t : l.y.ticks) {
    out << text_element(l.left - 6, l.y_pixel(t) + 4, format_tick(t, l.y.log ? t : l.y.step),
                        "end");
  }
  out << "</g>\n";
  if (!chart.x_label.empty()) {
    out << text_element((l.left + l.right) / 2, l.bottom + 36, chart.x_label, "middle");
  }
  if (!chart.y_label.empty()) {
    const double x = 16, y = (l.top + l.bottom) / 2;
    out << text_element(x, y, chart.y_label, "middle",
                        " transform=\"rotate(-90 " + px(x) + " " + px(y) + ")\"");
  }

  bool any_point = false;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    const std::string colour = colour_of(s, i);
    const bool dashed = dashed_of(s, i);
    const auto parts = segments(chart, s);
    std::string points_attr;
    for (const auto& part : parts) {
      for (const auto& [x, y] : part) {
        if (!points_attr.empty()) points_attr += ' ';
        points_attr += data_value(x) + "," + data_value(y);
      }
    }
    out << "<g class=\"series\" data-series=\"" << escape_xml(s.name) << "\" data-points=\""
        << points_attr << "\" stroke=\"" << colour << "\" fill=\"none\" stroke-width=\"1.8\""
        << (dashed ? " stroke-dasharray=\"6 3\"" : "") << ">\n";
    for (const auto& part : parts) {
      any_point = true;
      if (part.size() == 1) {
        // A point between two gaps would vanish as a one-point line.
        out << "<circle cx=\"" << px(l.x_pixel(part[0].first)) << "\" cy=\""
            << px(l.y_pixel(part[0].second)) << "\" r=\"2.2\" fill=\"" << colour
            << "\" stroke=\"none\"/>\n";
        continue;
      }
      out << "<polyline points=\"";
      for (size_t j = 0; j < part.size(); ++j) {
        out << (j ? " " : "") << px(l.x_pixel(part[j].first)) << ","
            << px(l.y_pixel(part[j].second));
      }
      out << "\"/>\n";
    }
    if (s.markers) {
      for (const auto& part : parts) {
        for (const auto& [x, y] : part) {
          out << "<circle class=\"marker\" cx=\"" << px(l.x_pixel(x)) << "\" cy=\""
              << px(l.y_pixel(y)) << "\" r=\"3\" fill=\"" << colour << "\" stroke=\"none\"><title>"
              << escape_xml(s.name) << ": (" << data_value(x) << ", " << data_value(y)
              << ")</title></circle>\n";
        }
      }
    }
    out << "</g>\n";
  }
  if (!any_point) {
    out << text_element((l.left + l.right) / 2, (l.top + l.bottom) / 2, "no data", "middle",
                        " fill=\"#999\"");
  }

  // The legend, in the right margin: one line sample and name per series.
  out << "<g class=\"legend\">\n";
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    const double y = l.top + 10 + 18 * static_cast<double>(i);
    const double x = l.right + 12;
    out << "<line x1=\"" << px(x) << "\" y1=\"" << px(y) << "\" x2=\"" << px(x + 22) << "\" y2=\""
        << px(y) << "\" stroke=\"" << colour_of(s, i) << "\" stroke-width=\"2\""
        << (dashed_of(s, i) ? " stroke-dasharray=\"6 3\"" : "") << "/>\n";
    // Long names keep their full text; textLength squeezes them into the margin.
    const double room = size.width - (x + 28) - 4;
    const double natural = kCharWidth * static_cast<double>(s.name.size());
    const std::string squeeze =
        natural > room && room > 0
            ? " textLength=\"" + px(room) + "\" lengthAdjust=\"spacingAndGlyphs\""
            : "";
    out << text_element(x + 28, y + 4, s.name, "start", squeeze);
  }
  out << "</g>\n</g>\n";
}

std::string document(double width, double height, const std::string& title,
                     const std::string& body) {
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << px(width) << "\" height=\""
      << px(height) << "\" viewBox=\"0 0 " << px(width) << " " << px(height)
      << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"11\">\n";
  if (!title.empty()) out << "<title>" << escape_xml(title) << "</title>\n";
  out << "<rect x=\"0\" y=\"0\" width=\"" << px(width) << "\" height=\"" << px(height)
      << "\" fill=\"white\"/>\n"
      << body << "</svg>\n";
  return out.str();
}

}  // namespace

double Axis::to_pixel(double value, double from, double to) const {
  double a = value, b = lo, c = hi;
  if (log) {
    a = std::log10(value);
    b = std::log10(lo);
    c = std::log10(hi);
  }
  if (c == b) return (from + to) / 2;
  return from + (a - b) / (c - b) * (to - from);
}

double nice_step(double raw) {
  if (!(raw > 0) || !std::isfinite(raw)) return 1.0;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / power;
  for (double nice : {1.0, 2.0, 5.0}) {
    if (fraction <= nice * (1 + kTickEpsilon)) return nice * power;
  }
  return 10 * power;
}

Axis linear_axis(double min, double max, int target_ticks) {
  Axis axis;
  if (!std::isfinite(min) || !std::isfinite(max)) min = 0, max = 1;
  if (min > max) std::swap(min, max);
  if (min == max) {
    // One value: a range around it (a constant curve sits in the middle of the plot).
    const double pad = min == 0 ? 1.0 : std::abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  axis.step = nice_step((max - min) / std::max(1, target_ticks));
  const double first = std::floor(min / axis.step + kTickEpsilon);
  const double last = std::ceil(max / axis.step - kTickEpsilon);
  axis.lo = first * axis.step;
  axis.hi = last * axis.step;
  for (double i = first; i <= last + 0.5; ++i) {
    const double t = i * axis.step;
    axis.ticks.push_back(t == 0 ? 0.0 : t);  // no -0
  }
  return axis;
}

Axis log_axis(double min, double max) {
  Axis axis;
  axis.log = true;
  if (!(min > 0) || !std::isfinite(min)) min = 1;
  if (!(max > 0) || !std::isfinite(max)) max = min;
  if (min > max) std::swap(min, max);
  const int first = static_cast<int>(std::floor(std::log10(min) + kTickEpsilon));
  int last = static_cast<int>(std::ceil(std::log10(max) - kTickEpsilon));
  if (last <= first) last = first + 1;
  axis.lo = std::pow(10.0, first);
  axis.hi = std::pow(10.0, last);
  axis.step = 0;
  // Few decades leave few ticks: add 2 and 5 between the powers of ten.
  const bool fill = last - first < 3;
  for (int e = first; e <= last; ++e) {
    const double power = std::pow(10.0, e);
    axis.ticks.push_back(power);
    if (fill && e < last) {
      axis.ticks.push_back(2 * power);
      axis.ticks.push_back(5 * power);
    }
  }
  return axis;
}

ChartLayout layout_chart(const LineChart& chart, const ChartSize& size) {
  ChartLayout l;
  l.left = size.margin_left;
  l.right = size.width - size.margin_right;
  l.top = size.margin_top;
  l.bottom = size.height - size.margin_bottom;
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = x_max;
  for (const Series& s : chart.series) {
    const size_t n = std::min(s.x.size(), s.y.size());
    for (size_t i = 0; i < n; ++i) {
      if (!drawable(chart, s.x[i], s.y[i])) continue;
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]);
      y_max = std::max(y_max, s.y[i]);
    }
  }
  const bool empty = !std::isfinite(x_min);
  if (chart.log_x) {
    l.x = empty ? log_axis(1, 10) : log_axis(x_min, x_max);
  } else {
    l.x = empty ? linear_axis(0, 1) : linear_axis(x_min, x_max);
  }
  if (chart.log_y) {
    l.y = empty ? log_axis(1, 10) : log_axis(y_min, y_max);
  } else {
    l.y = empty ? linear_axis(0, 1) : linear_axis(y_min, y_max);
  }
  return l;
}

std::string format_tick(double value, double step) {
  if (!std::isfinite(value)) return "";
  step = std::abs(step);
  if (!(step > 0)) step = std::abs(value);
  if (step > 0 && std::abs(value) < step * 1e-6) return "0";
  char text[48];
  if (step < 1e-3 || step >= 1e5) {
    // Scientific: the mantissa keeps the digits the step resolves.
    const int digits =
        std::max(0, static_cast<int>(std::floor(std::log10(std::abs(value)) + kTickEpsilon)) -
                        static_cast<int>(std::floor(std::log10(step) + kTickEpsilon)));
    std::snprintf(text, sizeof(text), "%.*e", digits, value);
    std::string s = text;
    const size_t e = s.find('e');
    std::string mantissa = s.substr(0, e);
    if (mantissa.find('.') != std::string::npos) {
      while (mantissa.back() == '0')
        mantissa.pop_back();
      if (mantissa.back() == '.') mantissa.pop_back();
    }
    const int exponent = std::stoi(s.substr(e + 1));
    return mantissa + "e" + std::to_string(exponent);
  }
  const int decimals =
      step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - kTickEpsilon));
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  std::string s = text;
  if (s.find_first_not_of("-0.") == std::string::npos) return "0";  // "-0.0"
  return s;
}

std::string escape_xml(const std::string& text) {
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
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters other than tab and newlines are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out += c;
    }
  }
  return out;
}

std::string render_svg(const LineChart& chart, const ChartSize& size) {
  std::ostringstream body;
  render_chart(body, chart, size, 0, 0);
  return document(size.width, size.height, chart.title, body.str());
}

std::string render_svg(const Figure& figure) {
  size_t columns = 1;
  for (const auto& row : figure.rows)
    columns = std::max(columns, row.size());
  const double title_height = figure.title.empty() ? 0 : 36;
  const double width = figure.panel.width * static_cast<double>(columns);
  const double height = title_height + figure.panel.height * static_cast<double>(std::max<size_t>(
                                                                 1, figure.rows.size()));
  std::ostringstream body;
  if (!figure.title.empty()) {
    body << text_element(width / 2, 24, figure.title, "middle",
                         " font-size=\"16\" font-weight=\"bold\"");
  }
  for (size_t r = 0; r < figure.rows.size(); ++r) {
    for (size_t c = 0; c < figure.rows[r].size(); ++c) {
      render_chart(body, figure.rows[r][c], figure.panel,
                   figure.panel.width * static_cast<double>(c),
                   title_height + figure.panel.height * static_cast<double>(r));
    }
  }
  return document(width, height, figure.title, body.str());
}

}  // namespace dgr::eval
