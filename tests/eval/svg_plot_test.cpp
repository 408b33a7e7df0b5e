// The SVG line-chart writer: tick values, where points land, log-x mapping, gaps at non-finite
// points, escaping, and that the document is well-formed.
#include "core/eval/svg_plot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <string>
#include <vector>

namespace dgr::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> ticks_of(double min, double max) {
  return linear_axis(min, max).ticks;
}

void expect_ticks(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-12) << "tick " << i;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
    ++n;
  return n;
}

// Checks that tags nest and close: every <a> has its </a>, in order, outside comments and the
// XML declaration; attribute values are quoted, and no raw '<' or '&' appears in text.
::testing::AssertionResult well_formed(const std::string& svg) {
  std::vector<std::string> open;
  size_t i = 0;
  if (svg.rfind("<?xml", 0) == 0) i = svg.find("?>") + 2;
  bool root_seen = false;
  while (i < svg.size()) {
    if (svg[i] == '&') {
      const size_t end = svg.find(';', i);
      const std::string entity = svg.substr(i, end == std::string::npos ? 8 : end - i + 1);
      if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;" &&
          entity != "&apos;") {
        return ::testing::AssertionFailure() << "bad entity at " << i << ": " << entity;
      }
      i = end + 1;
      continue;
    }
    if (svg[i] != '<') {
      ++i;
      continue;
    }
    // A tag: read to its '>' honouring quoted attribute values.
    size_t j = i + 1;
    char quote = 0;
    for (; j < svg.size(); ++j) {
      if (quote) {
        if (svg[j] == quote)
          quote = 0;
        else if (svg[j] == '<')
          return ::testing::AssertionFailure() << "'<' in an attribute";
      } else if (svg[j] == '"' || svg[j] == '\'') {
        quote = svg[j];
      } else if (svg[j] == '>') {
        break;
      }
    }
    if (j >= svg.size()) return ::testing::AssertionFailure() << "unterminated tag at " << i;
    std::string tag = svg.substr(i + 1, j - i - 1);
    i = j + 1;
    if (tag.empty()) return ::testing::AssertionFailure() << "empty tag";
    if (tag[0] == '/') {
      const std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) {
        return ::testing::AssertionFailure()
               << "</" << name << "> closes "
               << (open.empty() ? "nothing" : "<" + open.back() + ">");
      }
      open.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    const std::string name = tag.substr(0, tag.find_first_of(" \t\n/"));
    if (open.empty() && root_seen) return ::testing::AssertionFailure() << "second root <" << name;
    root_seen = true;
    if (!self_closing) open.push_back(name);
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> not closed";
  if (!root_seen) return ::testing::AssertionFailure() << "no element";
  return ::testing::AssertionSuccess();
}

// The value of attribute `name` in the first element of `svg` matching `element_regex`.
std::string attribute(const std::string& element, const std::string& name) {
  const std::regex re(" " + name + "=\"([^\"]*)\"");
  std::smatch m;
  return std::regex_search(element, m, re) ? m[1].str() : "";
}

std::vector<std::string> elements(const std::string& svg, const std::string& name) {
  std::vector<std::string> out;
  const std::regex re("<" + name + "[ >][^>]*>");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), re); it != std::sregex_iterator();
       ++it)
    out.push_back(it->str());
  return out;
}

TEST(SvgPlot, NiceStepsAreOneTwoOrFiveTimesAPowerOfTen) {
  EXPECT_DOUBLE_EQ(nice_step(0.13), 0.2);
  EXPECT_DOUBLE_EQ(nice_step(0.2), 0.2);
  EXPECT_DOUBLE_EQ(nice_step(19.4), 20);
  EXPECT_DOUBLE_EQ(nice_step(3), 5);
  EXPECT_DOUBLE_EQ(nice_step(7), 10);
  EXPECT_DOUBLE_EQ(nice_step(1e-4), 1e-4);
}

TEST(SvgPlot, LinearTicksForKnownRanges) {
  expect_ticks(ticks_of(0, 1), {0, 0.2, 0.4, 0.6, 0.8, 1.0});
  expect_ticks(ticks_of(0, 97), {0, 20, 40, 60, 80, 100});
  expect_ticks(ticks_of(3.2, 3.8), {3.2, 3.4, 3.6, 3.8});
  expect_ticks(ticks_of(-0.3, 0.7), {-0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8});
  expect_ticks(ticks_of(0, 0.0003), {0, 1e-4, 2e-4, 3e-4});
  expect_ticks(ticks_of(0.06, 0.29), {0.05, 0.1, 0.15, 0.2, 0.25, 0.3});
  // 0.7 / 0.1 is 7.000000000000001 in doubles: no extra tick at 0.8.
  expect_ticks(ticks_of(0.3, 0.7), {0.3, 0.4, 0.5, 0.6, 0.7});
  const Axis a = linear_axis(1, 99);
  EXPECT_DOUBLE_EQ(a.lo, 0);
  EXPECT_DOUBLE_EQ(a.hi, 100);
  EXPECT_DOUBLE_EQ(a.step, 20);
}

TEST(SvgPlot, ConstantAndEmptyRangesStillGiveAnAxis) {
  const Axis constant = linear_axis(2.5, 2.5);
  EXPECT_LT(constant.lo, 2.5);
  EXPECT_GT(constant.hi, 2.5);
  EXPECT_GE(constant.ticks.size(), 2u);
  const Axis zero = linear_axis(0, 0);
  EXPECT_LT(zero.lo, 0.0 + 1e-12);
  EXPECT_GT(zero.hi, 0.0);
  const Axis bad = linear_axis(kNaN, 1);
  EXPECT_DOUBLE_EQ(bad.lo, 0);
  EXPECT_DOUBLE_EQ(bad.hi, 1);
}

TEST(SvgPlot, LogTicksArePowersOfTenWithTwoAndFiveOverFewDecades) {
  const Axis few = log_axis(1, 100);
  expect_ticks(few.ticks, {1, 2, 5, 10, 20, 50, 100});
  EXPECT_DOUBLE_EQ(few.lo, 1);
  EXPECT_DOUBLE_EQ(few.hi, 100);
  const Axis many = log_axis(3, 1000);
  expect_ticks(many.ticks, {1, 10, 100, 1000});
  const Axis wide = log_axis(1e-5, 10);
  expect_ticks(wide.ticks, {1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10});
  // One value still spans a decade.
  const Axis one = log_axis(10, 10);
  EXPECT_DOUBLE_EQ(one.lo, 10);
  EXPECT_DOUBLE_EQ(one.hi, 100);
}

TEST(SvgPlot, LogAxisMapsDecadesToEqualDistances) {
  const Axis a = log_axis(1, 1000);
  EXPECT_DOUBLE_EQ(a.to_pixel(1, 0, 300), 0);
  EXPECT_NEAR(a.to_pixel(10, 0, 300), 100, 1e-9);
  EXPECT_NEAR(a.to_pixel(100, 0, 300), 200, 1e-9);
  EXPECT_DOUBLE_EQ(a.to_pixel(1000, 0, 300), 300);
  EXPECT_NEAR(a.to_pixel(std::sqrt(10.0), 0, 300), 50, 1e-9);
}

TEST(SvgPlot, TickLabelsUseTheDecimalsOfTheStep) {
  EXPECT_EQ(format_tick(0.4, 0.2), "0.4");
  EXPECT_EQ(format_tick(0.30000000000000004, 0.1), "0.3");
  EXPECT_EQ(format_tick(0.25, 0.05), "0.25");
  EXPECT_EQ(format_tick(100, 20), "100");
  EXPECT_EQ(format_tick(-1e-17, 0.1), "0");
  EXPECT_EQ(format_tick(3e-4, 5e-5), "3e-4");
  EXPECT_EQ(format_tick(1.5e-4, 5e-5), "1.5e-4");
  EXPECT_EQ(format_tick(2500000, 500000), "2.5e6");
  EXPECT_EQ(format_tick(0.001, 0.001), "0.001");
}

TEST(SvgPlot, EscapesTextForXml) {
  EXPECT_EQ(escape_xml("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  EXPECT_EQ(escape_xml(std::string("bell\x07") + "tab\t"), "belltab\t");
  LineChart chart;
  chart.title = "R&D <test>";
  chart.series.push_back({"<script>", {1, 2}, {1, 2}, true, false});
  const std::string svg = render_svg(chart);
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_NE(svg.find("data-series=\"&lt;script&gt;\""), std::string::npos);
  EXPECT_NE(svg.find("R&amp;D &lt;test&gt;"), std::string::npos);
  EXPECT_TRUE(well_formed(svg));
}

TEST(SvgPlot, KnownPointLandsAtItsPixel) {
  ChartSize size;
  size.width = 400;
  size.height = 300;
  size.margin_left = 50;
  size.margin_right = 150;
  size.margin_top = 30;
  size.margin_bottom = 50;
  LineChart chart;
  chart.series.push_back({"s", {0, 25, 100}, {0, 0.5, 1}, true, false});
  // Plot area x 50..250 over [0, 100], y 250..30 over [0, 1].
  const ChartLayout l = layout_chart(chart, size);
  EXPECT_DOUBLE_EQ(l.x_pixel(25), 100);
  EXPECT_DOUBLE_EQ(l.y_pixel(0.5), 140);
  const std::string svg = render_svg(chart, size);
  const auto markers = elements(svg, "circle");
  ASSERT_EQ(markers.size(), 3u) << svg;
  EXPECT_EQ(attribute(markers[1], "cx"), "100");
  EXPECT_EQ(attribute(markers[1], "cy"), "140");
  EXPECT_EQ(attribute(markers[0], "cx"), "50");
  EXPECT_EQ(attribute(markers[0], "cy"), "250");
  EXPECT_EQ(attribute(markers[2], "cx"), "250");
  EXPECT_EQ(attribute(markers[2], "cy"), "30");
  const auto lines = elements(svg, "polyline");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(attribute(lines[0], "points"), "50,250 100,140 250,30");
  EXPECT_NE(svg.find("<title>s: (25, 0.5)</title>"), std::string::npos);
  EXPECT_NE(svg.find("data-points=\"0,0 25,0.5 100,1\""), std::string::npos);
}

TEST(SvgPlot, LogXPlacesPointsByDecade) {
  ChartSize size;
  size.width = 400;
  size.margin_left = 50;
  size.margin_right = 50;  // plot 50..350 over [1, 1000]
  LineChart chart;
  chart.log_x = true;
  chart.series.push_back({"r", {1, 10, 100, 1000}, {0.1, 0.2, 0.3, 0.4}, true, false});
  const std::string svg = render_svg(chart, size);
  const auto markers = elements(svg, "circle");
  ASSERT_EQ(markers.size(), 4u);
  EXPECT_EQ(attribute(markers[0], "cx"), "50");
  EXPECT_EQ(attribute(markers[1], "cx"), "150");
  EXPECT_EQ(attribute(markers[2], "cx"), "250");
  EXPECT_EQ(attribute(markers[3], "cx"), "350");
  // Tick labels of the log axis.
  EXPECT_NE(svg.find(">1000</text>"), std::string::npos);
  EXPECT_NE(svg.find(">10</text>"), std::string::npos);
}

TEST(SvgPlot, LogYPlacesValuesByDecadeAndDropsNonPositiveOnes) {
  ChartSize size;
  size.height = 340;
  size.margin_top = 40;
  size.margin_bottom = 0;  // plot 340..40 over [1, 1000]
  LineChart chart;
  chart.log_y = true;
  chart.series.push_back({"loss", {1, 2, 3, 4}, {1000, 10, 0, 1}, true, false});
  const ChartLayout l = layout_chart(chart, size);
  EXPECT_TRUE(l.y.log);
  EXPECT_DOUBLE_EQ(l.y.lo, 1);
  EXPECT_DOUBLE_EQ(l.y.hi, 1000);
  const std::string svg = render_svg(chart, size);
  const auto markers = elements(svg, "circle class=\"marker\"");
  ASSERT_EQ(markers.size(), 3u) << svg;  // y = 0 cannot be drawn on a log axis
  EXPECT_EQ(attribute(markers[0], "cy"), "40");
  EXPECT_EQ(attribute(markers[1], "cy"), "240");  // a third of the way up
  EXPECT_EQ(attribute(markers[2], "cy"), "340");
  EXPECT_NE(svg.find(">1000</text>"), std::string::npos);
}

TEST(SvgPlot, NonFinitePointsBreakTheLineAndNeverReachTheSvg) {
  LineChart chart;
  chart.log_x = true;
  const double inf = std::numeric_limits<double>::infinity();
  // Two runs of points, an isolated point, and x = 0 (not drawable on a log axis).
  chart.series.push_back(
      {"gappy", {1, 2, 3, 4, 5, 6, 7, 0, 9}, {1, 2, kNaN, 4, 5, inf, 7, 8, 9}, false, false});
  const std::string svg = render_svg(chart);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("NaN"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  const auto lines = elements(svg, "polyline");
  EXPECT_EQ(lines.size(), 2u) << svg;  // 1-2 and 4-5
  // 7 and 9 sit between gaps: drawn as dots.
  EXPECT_EQ(elements(svg, "circle").size(), 2u) << svg;
  EXPECT_NE(svg.find("data-points=\"1,1 2,2 4,4 5,5 7,7 9,9\""), std::string::npos) << svg;
  EXPECT_TRUE(well_formed(svg));
}

TEST(SvgPlot, SeriesGetDistinctColoursAndALegendEntry) {
  LineChart chart;
  for (int i = 0; i < 3; ++i) {
    chart.series.push_back(
        {"series " + std::to_string(i), {0, 1}, {static_cast<double>(i), 1.0 + i}, false, false});
  }
  const std::string svg = render_svg(chart);
  const auto groups = elements(svg, "g class=\"series\"");
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_NE(attribute(groups[0], "stroke"), attribute(groups[1], "stroke"));
  EXPECT_NE(attribute(groups[1], "stroke"), attribute(groups[2], "stroke"));
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(count(svg, ">series " + std::to_string(i) + "</text>"), 1u);
}

TEST(SvgPlot, SeriesCanShareAColourByIndex) {
  LineChart chart;
  chart.series.push_back({"a", {0, 1}, {0, 1}, false, false});
  chart.series.push_back({"b", {0, 1}, {1, 2}, false, false});
  Series reference{"a (reference)", {0, 1}, {2, 2}, false, true};
  reference.colour = 0;
  chart.series.push_back(reference);
  const auto groups = elements(render_svg(chart), "g class=\"series\"");
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(attribute(groups[2], "stroke"), attribute(groups[0], "stroke"));
  EXPECT_NE(attribute(groups[1], "stroke"), attribute(groups[0], "stroke"));
  EXPECT_EQ(attribute(groups[2], "stroke-dasharray"), "6 3");
  EXPECT_EQ(attribute(groups[0], "stroke-dasharray"), "");
}

TEST(SvgPlot, DocumentIsStandaloneAndWellFormed) {
  LineChart chart;
  chart.title = "loss";
  chart.x_label = "step";
  chart.y_label = "value";
  chart.series.push_back({"loss", {1, 2, 3}, {3, 2, 1}, false, false});
  const std::string svg = render_svg(chart);
  EXPECT_EQ(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
  EXPECT_NE(svg.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_NE(svg.find("viewBox=\"0 0 560 340\""), std::string::npos);
  EXPECT_TRUE(well_formed(svg));
  EXPECT_FALSE(well_formed("<svg><g></svg>"));  // the checker itself can fail
  EXPECT_FALSE(well_formed("<svg>a & b</svg>"));

  LineChart empty;
  empty.title = "nothing";
  const std::string no_data = render_svg(empty);
  EXPECT_NE(no_data.find(">no data</text>"), std::string::npos);
  EXPECT_TRUE(well_formed(no_data));
}

TEST(SvgPlot, FigurePlacesPanelsOnAGrid) {
  Figure figure;
  figure.title = "Training";
  figure.panel.width = 300;
  figure.panel.height = 200;
  LineChart a;
  a.series.push_back({"a", {0, 1}, {0, 1}, false, false});
  figure.rows = {{a, a, a}, {a}};
  const std::string svg = render_svg(figure);
  // 3 columns x 2 rows under a 36-pixel title.
  EXPECT_NE(svg.find("viewBox=\"0 0 900 436\""), std::string::npos) << svg.substr(0, 300);
  EXPECT_EQ(count(svg, "<g class=\"chart\""), 4u);
  EXPECT_NE(svg.find("translate(600,36)"), std::string::npos);
  EXPECT_NE(svg.find("translate(0,236)"), std::string::npos);
  EXPECT_TRUE(well_formed(svg));
}

}  // namespace
}  // namespace dgr::eval
