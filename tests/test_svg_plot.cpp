// Tests for hwaware/report/svg_plot.hpp: the scatter SVG (one circle per point, legend, ranges
// covering the data on linear and log axes, ticks), the heatmap (one rect per cell), the atomic
// write, and the CSV + gnuplot script (and PNG when gnuplot is installed).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "hwaware/report/svg_plot.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace hwaware;

namespace {

/// A fresh directory per test, removed at its end.
struct TempDir : hwtest::TempDir {
  TempDir() : hwtest::TempDir("test_svg") {}
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

report::ScatterPlot three_predictors() {
  report::ScatterPlot p;
  p.title = "held-out networks: predicted vs measured";
  p.series.push_back({"lut", "", {{0.5, 0.45}, {1.0, 0.85}, {2.0, 1.7}, {8.0, 6.9}}});
  p.series.push_back({"mlp", "#d62728", {{0.5, 0.51}, {1.0, 1.02}, {2.0, 1.96}}});
  p.series.push_back({"analytic", "green", {{0.5, 0.6}, {4.0, 4.4}}});
  return p;
}

}  // namespace

TEST_CASE("scatter SVG: well formed, one circle per point, legend names, title") {
  TempDir tmp;
  const auto p = three_predictors();
  const std::string path = tmp.file("scatter.svg");
  report::write_scatter_svg(path, p);
  const std::string svg = read_text(path);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(trimmed(svg).size() >= 6);
  CHECK(trimmed(svg).substr(trimmed(svg).size() - 6) == "</svg>");
  CHECK(count(svg, "<circle") == 9);
  CHECK(count(svg, "<text") == count(svg, "</text>"));
  for (const char* name : {"lut (n=4)", "mlp (n=3)", "analytic (n=2)", "y = x", "\u00b110%"})
    CHECK_MESSAGE(svg.find(name) != std::string::npos, name);
  CHECK(svg.find(p.title) != std::string::npos);
  CHECK(svg.find("#d62728") != std::string::npos);
  CHECK_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));  // the temp file is gone

  // Titles and names are escaped.
  auto q = p;
  q.title = "a < b & \"c\"";
  const std::string escaped = report::scatter_svg(q);
  CHECK(escaped.find("a &lt; b &amp; &quot;c&quot;") != std::string::npos);
  CHECK(escaped.find("a < b") == std::string::npos);
}

TEST_CASE("axis ranges cover the data; the diagonal makes them shared") {
  auto p = three_predictors();
  for (bool log : {false, true}) {
    p.x.log = p.y.log = log;
    const auto [xr, yr] = report::scatter_ranges(p);
    for (const auto& s : p.series)
      for (const auto& [x, y] : s.points) {
        CHECK(xr.lo < x);
        CHECK(x < xr.hi);
        CHECK(yr.lo < y);
        CHECK(y < yr.hi);
      }
    CHECK(xr.lo == yr.lo);
    CHECK(xr.hi == yr.hi);
    CHECK(xr.log == log);
    const auto ticks = report::axis_ticks(xr);
    CHECK(ticks.size() >= 3);
    for (double t : ticks) {
      CHECK(t >= xr.lo * (1 - 1e-9));
      CHECK(t <= xr.hi * (1 + 1e-9));
    }
  }
  // Without the diagonal each axis fits its own data.
  p.diagonal = false;
  p.x.log = p.y.log = false;
  p.series = {{"s", "", {{100, 1}, {200, 2}}}};
  const auto [xr, yr] = report::scatter_ranges(p);
  CHECK(xr.lo > 10);
  CHECK(yr.hi < 10);

  // Fixed bounds are honoured; a log axis refuses a non-positive one.
  p.x.min = 0.0, p.x.max = 500.0;
  CHECK(report::scatter_ranges(p).first.lo == 0.0);
  CHECK(report::scatter_ranges(p).first.hi == 500.0);
  p.x.log = true;
  CHECK_THROWS_AS(report::scatter_ranges(p), Error);
}

TEST_CASE("ticks: 1-2-5 steps, decades on wide log ranges") {
  const auto lin = report::axis_ticks({0.0, 1.0, false});
  REQUIRE(lin.size() >= 3);
  CHECK(lin.front() == doctest::Approx(0.0));
  CHECK(lin.back() == doctest::Approx(1.0));
  const auto dec = report::axis_ticks({0.01, 1000.0, true});
  CHECK(dec.size() == 6);
  CHECK(dec[0] == doctest::Approx(0.01));
  CHECK(dec[5] == doctest::Approx(1000.0));
  // A narrow log range still gets labelled ticks, and no float noise in labels.
  CHECK(report::axis_ticks({0.8, 3.0, true}).size() >= 3);
  report::ScatterPlot p;
  p.series = {{"s", "", {{0.1, 0.3}, {0.2, 0.7}}}};
  CHECK(report::scatter_svg(p).find("0000000") == std::string::npos);
}

TEST_CASE("log axes: a point that cannot be drawn is left out and said so in the legend") {
  report::ScatterPlot p;
  p.x.log = p.y.log = true;
  p.series = {{"mlp", "", {{1, 1}, {2, 2.1}, {0, 1}, {3, -1}}}};
  const std::string svg = report::scatter_svg(p);
  CHECK(count(svg, "<circle") == 2);
  CHECK(svg.find("2 not drawable") != std::string::npos);
}

TEST_CASE("fixed axis ranges: points beyond them are left out and counted; lines stay inside") {
  report::ScatterPlot p;
  p.x.min = p.y.min = 0.0;
  p.x.max = p.y.max = 2.0;
  p.series = {{"mlp", "", {{1, 1}, {1.5, 1.4}, {5, 5}}}};
  const std::string svg = report::scatter_svg(p);
  CHECK(count(svg, "<circle") == 2);
  CHECK(svg.find("mlp (n=2), 1 outside the axes") != std::string::npos);
}

TEST_CASE("clipping helpers keep the diagonal and band inside the plot area") {
  const report::detail::Box box{10, 10, 110, 60};
  // A diagonal running far beyond the box is cut at its edges.
  const std::string d = report::detail::clip_polyline({{0, 70}, {200, -130}}, box);
  CHECK(d == "M10.00,60.00L60.00,10.00");
  CHECK(report::detail::clip_polyline({{0, 0}, {5, 5}}, box).empty());
  // A triangle sticking out of the box is cut to the box.
  const auto poly = report::detail::clip_polygon({{0, 0}, {200, 0}, {200, 200}}, box);
  REQUIRE(!poly.empty());
  for (const auto& q : poly) {
    CHECK(q.x >= 10 - 1e-9);
    CHECK(q.x <= 110 + 1e-9);
    CHECK(q.y >= 10 - 1e-9);
    CHECK(q.y <= 60 + 1e-9);
  }
}

TEST_CASE("an empty scatter plot still renders") {
  const std::string svg = report::scatter_svg({});
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(count(svg, "<circle") == 0);
}

TEST_CASE("heatmap: rows x cols rects, labels, colour scale") {
  TempDir tmp;
  report::Heatmap h;
  h.title = "channel importance over epochs";
  h.x_label = "epoch";
  h.y_label = "channel";
  h.value_label = "|gamma|";
  const int rows = 12, cols = 7;
  for (int r = 0; r < rows; ++r) {
    h.values.emplace_back();
    for (int c = 0; c < cols; ++c) h.values.back().push_back(std::exp(-0.3 * c) * (r + 1));
  }
  for (int c = 0; c < cols; ++c) h.col_labels.push_back("ep" + std::to_string(c));
  h.values[3][4] = std::nan("");  // drawn grey, still a cell
  const std::string path = tmp.file("heat.svg");
  report::write_heatmap_svg(path, h);
  const std::string svg = read_text(path);
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(trimmed(svg).substr(trimmed(svg).size() - 6) == "</svg>");
  CHECK(count(svg, "<rect") == size_t(rows * cols));
  CHECK(svg.find("#d0d0d0") != std::string::npos);
  CHECK(svg.find(">ep6<") != std::string::npos);
  CHECK(svg.find(h.title) != std::string::npos);
  CHECK(svg.find("hw-colour-bar") != std::string::npos);
  // The extremes take the ends of the scale.
  CHECK(svg.find(report::viridis_hex(1.0)) != std::string::npos);
  CHECK(svg.find(report::viridis_hex(0.0)) != std::string::npos);
  CHECK(report::viridis_hex(0.0) == "#440154");
  CHECK(report::viridis_hex(1.0) == "#fde725");

  // A large matrix: every cell, labels thinned.
  report::Heatmap big;
  big.values.assign(200, std::vector<double>(60, 1.0));  // constant: a degenerate scale is widened
  const std::string bsvg = report::heatmap_svg(big);
  CHECK(count(bsvg, "<rect") == 200u * 60u);
  CHECK(count(bsvg, "<text") < 200);

  // Ragged rows and label count mismatches are refused.
  report::Heatmap ragged;
  ragged.values = {{1, 2}, {3}};
  CHECK_THROWS_AS(report::heatmap_svg(ragged), Error);
  report::Heatmap labels;
  labels.values = {{1, 2}};
  labels.row_labels = {"a", "b"};
  CHECK_THROWS_AS(report::heatmap_svg(labels), Error);
}

TEST_CASE("gnuplot: CSV and script written; a PNG when gnuplot is installed") {
  TempDir tmp;
  const auto p = three_predictors();
  const std::string prefix = tmp.file("scatter");
  std::string why;
  const bool png = report::write_scatter_gnuplot(prefix, p, &why);

  const std::string csv = read_text(prefix + ".csv");
  CHECK(csv.rfind("series_index,x,y,series\n", 0) == 0);
  CHECK(count(csv, "\n") == 1 + 9);
  CHECK(csv.find("1,0.5,0.51,mlp\n") != std::string::npos);
  const std::string gp = read_text(prefix + ".gp");
  CHECK(gp.find("'mlp'") != std::string::npos);
  CHECK(gp.find("filledcurves") != std::string::npos);

  if (!report::detail::find_on_path("gnuplot").empty()) {
    CHECK_MESSAGE(png, why);
    CHECK(fs::exists(prefix + ".png"));
    const std::string bytes = read_text(prefix + ".png");
    CHECK(bytes.substr(1, 3) == "PNG");
  } else {
    CHECK_FALSE(png);
    CHECK(why.find("not on PATH") != std::string::npos);
  }
  // No temp files left behind.
  for (const auto& e : fs::directory_iterator(tmp.path)) CHECK(e.path().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("a line series is one path through its points in order, in its colour, not circles") {
  report::ScatterPlot p = three_predictors();
  p.diagonal = false;
  p.series.push_back({"fitted curve", "#9467bd", {{0.5, 0.5}, {1.0, 1.2}, {2.0, 1.6}, {4.0, 2.0}}, true});
  const std::string svg = report::scatter_svg(p);
  CHECK(count(svg, "<circle") == 9);  // the marker series only
  const size_t at = svg.find("<title>fitted curve</title></path>");
  REQUIRE(at != std::string::npos);
  const size_t start = svg.rfind("<path d=\"M", at);
  const std::string path = svg.substr(start, at - start);
  CHECK(path.find("stroke=\"#9467bd\"") != std::string::npos);
  CHECK(count(path, "L") == 3);                        // four points, three segments
  CHECK(svg.find("fitted curve (n=4)") != std::string::npos);
  const auto items = report::detail::scatter_gnuplot_items(p);
  REQUIRE(items.size() == 4);
  CHECK(items[3].find("with lines") != std::string::npos);
  CHECK(items[0].find("with points") != std::string::npos);
  // The legend moves to the bottom right on request (rising curves leave that corner free).
  const auto ranges = report::scatter_ranges(p);
  CHECK(report::detail::scatter_gnuplot_script(p, ranges, "a.gp", "a.png", "a.csv", "a.png").find("set key top left") !=
        std::string::npos);
  p.legend_bottom_right = true;
  CHECK(report::detail::scatter_gnuplot_script(p, ranges, "a.gp", "a.png", "a.csv", "a.png")
            .find("set key bottom right") != std::string::npos);
  const auto layout = report::detail::scatter_layout(p);
  const std::string moved = report::scatter_svg(p);
  const std::string marker = "<g>\n<path d=\"M";
  const size_t legend = moved.find(marker);
  REQUIRE(legend != std::string::npos);
  CHECK(std::stod(moved.substr(legend + marker.size())) > layout.left + layout.pw / 2);  // right of centre
}
