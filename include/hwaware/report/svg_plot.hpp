#pragma once
// Plots without a plotting library: a predicted-vs-measured scatter plot (several series, the
// y = x diagonal and a ±10% band — the band nn-Meter's "within ±10%" metric counts) and a heatmap
// (e.g. ZeroBN's channel importance over epochs), written as self-contained SVG; and the scatter
// as CSV + a gnuplot script, rendered to PNG when gnuplot is installed.
//
//   report::ScatterPlot p{.title = "resnet-8 family, held-out networks"};
//   p.series.push_back({"mlp", "", {{1.2, 1.25}, {2.0, 1.9}}});   // (measured, predicted)
//   p.x.log = p.y.log = true;
//   report::write_scatter_svg("scatter.svg", p);
//   bool png = report::write_scatter_gnuplot("scatter", p);       // scatter.csv, .gp, .png
//
// Guarantees: every SVG has exactly one <circle> per drawable point of a marker series (a line
// series is one <path>, e.g. a fitted curve drawn beside its points) and exactly
// rows × cols <rect> elements (heatmap, one per cell) — legends and colour bars use <path> — so
// the files can be checked and post-processed by counting elements. Files are written atomically
// (temp file + rename).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "hwaware/core/atomic_file.hpp"
#include "hwaware/core/error.hpp"
#include "hwaware/core/process.hpp"
#include "hwaware/report/colour.hpp"

extern char** environ;

namespace hwaware::report {

struct ScatterSeries {
  std::string name;
  std::string color;                               // any SVG/gnuplot colour; empty: from a palette
  std::vector<std::pair<double, double>> points;   // (x, y) = (measured, predicted)
  bool line = false;                               // a curve through the points in order, not markers
};

struct PlotAxis {
  std::string label;
  bool log = false;
  std::optional<double> min{}, max{};  // a fixed range; by default the data's, with a margin
};

struct ScatterPlot {
  std::string title;
  PlotAxis x{.label = "measured latency (ms)"};
  PlotAxis y{.label = "predicted latency (ms)"};
  std::vector<ScatterSeries> series;
  bool diagonal = true;  // draw y = x; both axes then share one range (the union of the data's)
  double band = 0.10;    // shade y within ±band·x around the diagonal; 0: none
  bool legend_bottom_right = false;  // top left by default (free beside a diagonal of points)
  int width = 640, height = 560;
};

/// An axis's drawn range (the data with a margin, or the fixed min/max).
struct AxisRange {
  double lo = 0, hi = 1;
  bool log = false;
};

/// The ranges write_scatter_svg and write_scatter_gnuplot use: {x, y}.
std::pair<AxisRange, AxisRange> scatter_ranges(const ScatterPlot& plot);
/// Tick positions for a range: 1-2-5 steps on a linear axis, decades (then 1-2-5) on a log one.
std::vector<double> axis_ticks(const AxisRange& r);

std::string scatter_svg(const ScatterPlot& plot);
void write_scatter_svg(const std::string& path, const ScatterPlot& plot);

struct Heatmap {
  std::string title;
  std::string x_label;      // e.g. "epoch"
  std::string y_label;      // e.g. "channel"
  std::string value_label;  // the colour bar's, e.g. "|γ|"
  std::vector<std::string> row_labels, col_labels;  // empty: 0, 1, 2, ...
  std::vector<std::vector<double>> values;          // values[row][col]; non-finite: drawn grey
  std::optional<double> vmin, vmax;                 // colour scale; default: the data's range
  int width = 760, height = 560;
};

/// Colour of t ∈ [0, 1] on the viridis scale (perceptually uniform, readable in greyscale).
std::string viridis_hex(double t);

std::string heatmap_svg(const Heatmap& map);
void write_heatmap_svg(const std::string& path, const Heatmap& map);

/// Writes `<prefix>.csv` (series_index,x,y,series) and `<prefix>.gp`; if gnuplot is on PATH,
/// runs it to render `<prefix>.png`. Returns whether the PNG was produced; if not, `*why_no_png`
/// (when given) says why. The script also runs by hand: `gnuplot <prefix>.gp`.
bool write_scatter_gnuplot(const std::string& path_prefix, const ScatterPlot& plot, std::string* why_no_png = nullptr);

/// Writes `text` to `path` through a temp file and a rename (write_file_atomically); throws
/// FileError on failure.
void write_text_atomically(const std::string& path, const std::string& text);

// ---------------------------------------------------------------------------------------------
namespace detail {

inline std::string xml_escape(const std::string& s) {
  std::string r;
  r.reserve(s.size());
  for (char c : s) switch (c) {
      case '&': r += "&amp;"; break;
      case '<': r += "&lt;"; break;
      case '>': r += "&gt;"; break;
      case '"': r += "&quot;"; break;
      case '\'': r += "&apos;"; break;
      default: r += c;
    }
  return r;
}

/// A coordinate, short and locale-independent.
inline std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", std::abs(v) < 0.005 ? 0.0 : v);
  return b;
}

inline std::string fmt_g(double v, int digits = 6) {
  char b[32];
  std::snprintf(b, sizeof b, "%.*g", digits, v);
  return b;
}

inline const std::vector<std::string>& palette() {
  // Tableau 10: distinct, colour-blind-friendlier than pure hues.
  static const std::vector<std::string> p = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                             "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return p;
}

inline std::string series_color(const ScatterPlot& p, size_t i) {
  return p.series[i].color.empty() ? palette()[i % palette().size()] : p.series[i].color;
}

inline bool drawable(double v, bool log) { return std::isfinite(v) && (!log || v > 0); }

inline double to_axis(double v, bool log) { return log ? std::log10(v) : v; }

/// The data's range with a 5% margin (in axis space), or the fixed bounds.
inline AxisRange make_range(const std::vector<double>& vals, const PlotAxis& a) {
  AxisRange r;
  r.log = a.log;
  bool any = false;
  double lo = 0, hi = 0;
  for (double v : vals) {
    if (!drawable(v, a.log)) continue;
    const double t = to_axis(v, a.log);
    lo = any ? std::min(lo, t) : t, hi = any ? std::max(hi, t) : t, any = true;
  }
  if (!any) lo = 0, hi = 1;
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
    const double w = a.log ? 0.5 : std::max(0.5, 0.1 * std::abs(lo));
    lo -= w, hi += w;
  }
  const double pad = 0.05 * (hi - lo);
  lo -= pad, hi += pad;
  r.lo = a.log ? std::pow(10.0, lo) : lo;
  r.hi = a.log ? std::pow(10.0, hi) : hi;
  if (a.min) r.lo = *a.min;
  if (a.max) r.hi = *a.max;
  if (a.log && (r.lo <= 0 || r.hi <= 0))
    throw Error("plot axis '" + a.label + "': a log axis needs a positive range (got [" + fmt_g(r.lo) + ", " +
                fmt_g(r.hi) + "])");
  if (!(r.hi > r.lo))
    throw Error("plot axis '" + a.label + "': empty range [" + fmt_g(r.lo) + ", " + fmt_g(r.hi) + "]");
  return r;
}

inline std::vector<double> linear_ticks(double lo, double hi, int target = 6) {
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 5.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + 1e-9 * step; k += 1) t.push_back(k * step);
  return t;
}

/// A tick label: as many decimals as the tick spacing needs, no float noise (0.30000000000000004).
inline std::string tick_label(double v, const std::vector<double>& ticks, bool log) {
  if (log) return fmt_g(v, 3);
  double step = ticks.size() > 1 ? ticks[1] - ticks[0] : std::abs(v);
  const int decimals = step > 0 ? std::max(0, -int(std::floor(std::log10(step) + 1e-9))) : 0;
  if (std::abs(v) >= 1e6 || (v != 0 && std::abs(v) < 1e-4)) return fmt_g(v, 3);
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", decimals, std::abs(v) < step * 1e-9 ? 0.0 : v);
  return b;
}

/// Maps data values to pixels along one axis.
struct AxisMap {
  AxisRange r;
  double p0, p1;  // pixels of r.lo and r.hi
  double operator()(double v) const {
    const double a = to_axis(r.lo, r.log), b = to_axis(r.hi, r.log);
    return p0 + (to_axis(v, r.log) - a) / (b - a) * (p1 - p0);
  }
  /// The value at fraction f of the axis (in axis space: log axes sample geometrically).
  double at(double f) const {
    const double a = to_axis(r.lo, r.log), b = to_axis(r.hi, r.log), t = a + f * (b - a);
    return r.log ? std::pow(10.0, t) : t;
  }
};

struct Pt {
  double x, y;
};
struct Box {
  double x0, y0, x1, y1;  // x0 < x1, y0 < y1
};

/// Sutherland–Hodgman: the part of a polygon inside a box.
inline std::vector<Pt> clip_polygon(std::vector<Pt> poly, const Box& b) {
  auto clip = [](const std::vector<Pt>& in, auto inside, auto cross) {
    std::vector<Pt> out;
    for (size_t i = 0; i < in.size(); ++i) {
      const Pt a = in[i], c = in[(i + 1) % in.size()];
      const bool ia = inside(a), ic = inside(c);
      if (ia) out.push_back(a);
      if (ia != ic) out.push_back(cross(a, c));
    }
    return out;
  };
  auto at_x = [](double x) { return [x](Pt a, Pt c) { return Pt{x, a.y + (c.y - a.y) * (x - a.x) / (c.x - a.x)}; }; };
  auto at_y = [](double y) { return [y](Pt a, Pt c) { return Pt{a.x + (c.x - a.x) * (y - a.y) / (c.y - a.y), y}; }; };
  poly = clip(poly, [&](Pt q) { return q.x >= b.x0; }, at_x(b.x0));
  poly = clip(poly, [&](Pt q) { return q.x <= b.x1; }, at_x(b.x1));
  poly = clip(poly, [&](Pt q) { return q.y >= b.y0; }, at_y(b.y0));
  poly = clip(poly, [&](Pt q) { return q.y <= b.y1; }, at_y(b.y1));
  return poly;
}

/// Liang–Barsky on each segment: the visible parts of a polyline, as SVG path data.
inline std::string clip_polyline(const std::vector<Pt>& pts, const Box& b) {
  std::string d;
  std::optional<Pt> pen;  // where the current subpath ends
  for (size_t i = 0; i + 1 < pts.size(); ++i) {
    const Pt a = pts[i], c = pts[i + 1];
    const double dx = c.x - a.x, dy = c.y - a.y;
    double t0 = 0, t1 = 1;
    bool visible = true;
    const std::pair<double, double> edges[4] = {{-dx, a.x - b.x0}, {dx, b.x1 - a.x}, {-dy, a.y - b.y0}, {dy, b.y1 - a.y}};
    for (auto [pk, qk] : edges) {
      if (pk == 0) {
        if (qk < 0) visible = false;
        continue;
      }
      const double r = qk / pk;
      if (pk < 0) t0 = std::max(t0, r);
      else t1 = std::min(t1, r);
    }
    if (!visible || t0 > t1) continue;
    const Pt s{a.x + t0 * dx, a.y + t0 * dy}, e{a.x + t1 * dx, a.y + t1 * dy};
    if (!pen || std::abs(pen->x - s.x) > 1e-9 || std::abs(pen->y - s.y) > 1e-9) d += "M" + num(s.x) + "," + num(s.y);
    d += "L" + num(e.x) + "," + num(e.y);
    pen = e;
  }
  return d;
}

inline std::string box_path(double x, double y, double w, double h) {
  return "M" + num(x) + "," + num(y) + "h" + num(w) + "v" + num(h) + "h" + num(-w) + "z";
}

/// A transform that turns text a quarter left about (x, y), for text drawn at (0, 0). Written as
/// translate + rotate: ImageMagick ignores the rotate(a x y) form.
inline std::string turned_left(double x, double y) { return "translate(" + num(x) + " " + num(y) + ") rotate(-90)"; }

inline std::string text(double x, double y, const std::string& s, const std::string& attrs = "") {
  return "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\"" + (attrs.empty() ? "" : " " + attrs) + ">" + xml_escape(s) +
         "</text>\n";
}

/// The PATH entry holding an executable `name`, or empty.
inline std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (!path) return "";
  std::stringstream ss(path);
  for (std::string dir; std::getline(ss, dir, ':');) {
    const std::string f = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(f.c_str(), X_OK) == 0) return f;
  }
  return "";
}

/// A string as a gnuplot single-quoted literal (where only ' needs escaping, as '').
inline std::string gp_quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("''") : std::string(1, c);
  return r + "'";
}

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string r = "\"";
  for (char c : s) r += c == '"' ? std::string("\"\"") : std::string(1, c);
  return r + "\"";
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
inline void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, std::string_view(text));
}

inline std::pair<AxisRange, AxisRange> scatter_ranges(const ScatterPlot& p) {
  std::vector<double> xs, ys;
  for (const auto& s : p.series)
    for (const auto& [x, y] : s.points)
      if (detail::drawable(x, p.x.log) && detail::drawable(y, p.y.log)) xs.push_back(x), ys.push_back(y);
  if (!p.diagonal) return {detail::make_range(xs, p.x), detail::make_range(ys, p.y)};
  std::vector<double> all = xs;
  all.insert(all.end(), ys.begin(), ys.end());
  return {detail::make_range(all, p.x), detail::make_range(all, p.y)};
}

inline std::vector<double> axis_ticks(const AxisRange& r) {
  if (!r.log) return detail::linear_ticks(r.lo, r.hi);
  const double a = std::log10(r.lo), b = std::log10(r.hi);
  std::vector<double> t;
  const int k0 = int(std::ceil(a - 1e-9)), k1 = int(std::floor(b + 1e-9));
  const int every = std::max(1, (k1 - k0 + 1 + 7) / 8);  // at most ~8 decade ticks
  for (int k = k0; k <= k1; k += every) t.push_back(std::pow(10.0, k));
  if (t.size() >= 3) return t;
  t.clear();  // under ~2 decades: 1-2-5 within each
  for (int k = int(std::floor(a)); k <= int(std::ceil(b)); ++k)
    for (double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10.0, k);
      if (v >= r.lo * (1 - 1e-9) && v <= r.hi * (1 + 1e-9)) t.push_back(v);
    }
  if (t.size() >= 3) return t;
  return detail::linear_ticks(r.lo, r.hi, 4);  // a narrow log range: plain steps read best
}

namespace detail {

/// Where a scatter plot draws: the canvas, the plot area and the data-to-pixel maps.
struct ScatterLayout {
  AxisRange xr, yr;
  double W, H, left, top, pw, ph;
  AxisMap mx, my;
  Box area;
};

inline ScatterLayout scatter_layout(const ScatterPlot& p) {
  const auto [xr, yr] = scatter_ranges(p);
  const double W = std::max(p.width, 200), H = std::max(p.height, 160);
  const double left = 72, right = 20, top = p.title.empty() ? 20 : 44, bottom = 56;
  const double pw = W - left - right, ph = H - top - bottom;
  const AxisMap mx{xr, left, left + pw}, my{yr, top + ph, top};
  const Box area{left, top, left + pw, top + ph};
  return {xr, yr, W, H, left, top, pw, ph, mx, my, area};
}

/// The line y = factor·x in pixels, sampled so it is right on any mix of log and linear axes;
/// the caller clips it (rather than clip-path, which simple renderers such as ImageMagick's ignore).
inline std::vector<Pt> scatter_line_samples(const ScatterLayout& g, double factor) {
  constexpr int kSamples = 64;
  std::vector<Pt> v;
  for (int i = 0; i <= kSamples; ++i) {
    const double x = g.mx.at(double(i) / kSamples), y = factor * x;
    if (drawable(y, g.yr.log)) v.push_back({g.mx(x), g.my(y)});
  }
  return v;
}

/// The ±band region around the diagonal, filled solid: drawn under the grid, so no reliance on
/// opacity support.
inline void scatter_band_fill(std::ostream& o, const ScatterPlot& p, const ScatterLayout& g) {
  auto poly = scatter_line_samples(g, 1 + p.band);
  const auto lower = scatter_line_samples(g, 1 - p.band);
  poly.insert(poly.end(), lower.rbegin(), lower.rend());
  const auto clipped = clip_polygon(poly, g.area);
  if (clipped.size() >= 3) {
    o << "<path d=\"";
    for (size_t i = 0; i < clipped.size(); ++i) o << (i ? "L" : "M") << num(clipped[i].x) << "," << num(clipped[i].y);
    o << "z\" fill=\"#ebebeb\" stroke=\"none\"/>\n";
  }
}

/// Grid lines, tick labels and axis labels.
inline void scatter_grid(std::ostream& o, const ScatterPlot& p, const ScatterLayout& g) {
  const auto xt = axis_ticks(g.xr), yt = axis_ticks(g.yr);
  o << "<g stroke=\"#dcdcdc\" stroke-width=\"1\">\n";
  for (double v : xt) o << "<path d=\"M" << num(g.mx(v)) << "," << num(g.top) << "v" << num(g.ph) << "\"/>\n";
  for (double v : yt) o << "<path d=\"M" << num(g.left) << "," << num(g.my(v)) << "h" << num(g.pw) << "\"/>\n";
  o << "</g>\n<g fill=\"#333\">\n";
  for (double v : xt)
    o << text(g.mx(v), g.top + g.ph + 17, tick_label(v, xt, g.xr.log), "text-anchor=\"middle\"");
  for (double v : yt)
    o << text(g.left - 6, g.my(v) + 4, tick_label(v, yt, g.yr.log), "text-anchor=\"end\"");
  o << "</g>\n";
  o << text(g.left + g.pw / 2, g.H - 12, p.x.label + (g.xr.log ? " (log scale)" : ""), "text-anchor=\"middle\"");
  o << text(0, 0, p.y.label + (g.yr.log ? " (log scale)" : ""),
            "text-anchor=\"middle\" transform=\"" + turned_left(18, g.top + g.ph / 2) + "\"");
}

/// The band's dashed edges and the diagonal, over the grid.
inline void scatter_guide_lines(std::ostream& o, const ScatterPlot& p, const ScatterLayout& g, bool band) {
  if (band)
    for (double f : {1 + p.band, 1 - p.band})
      if (auto d = clip_polyline(scatter_line_samples(g, f), g.area); !d.empty())
        o << "<path d=\"" << d << "\" fill=\"none\" stroke=\"#999\" stroke-width=\"1\" stroke-dasharray=\"4 3\"/>\n";
  if (p.diagonal)
    if (auto d = clip_polyline(scatter_line_samples(g, 1), g.area); !d.empty())
      o << "<path d=\"" << d << "\" fill=\"none\" stroke=\"#222\" stroke-width=\"1.2\"/>\n";
}

/// Points a series left out: not drawable on its axes (hidden) or beyond a fixed range (outside).
struct ScatterSkipped {
  std::vector<size_t> hidden, outside;
};

/// The points: one <circle> each, in a <g> with a <title> that shows the values on hover (a
/// <title> inside the <circle> makes ImageMagick drop the circle). Returns what it left out.
inline ScatterSkipped scatter_points(std::ostream& o, const ScatterPlot& p, const ScatterLayout& g) {
  ScatterSkipped skipped{std::vector<size_t>(p.series.size(), 0), std::vector<size_t>(p.series.size(), 0)};
  for (size_t s = 0; s < p.series.size(); ++s) {
    const std::string color = xml_escape(series_color(p, s));
    const std::string name = xml_escape(p.series[s].name);
    std::vector<Pt> curve;
    for (const auto& [x, y] : p.series[s].points) {
      if (!drawable(x, g.xr.log) || !drawable(y, g.yr.log)) {
        ++skipped.hidden[s];
        continue;
      }
      const double cx = g.mx(x), cy = g.my(y);
      const Box& a = g.area;
      if (cx < a.x0 - 1e-6 || cx > a.x1 + 1e-6 || cy < a.y0 - 1e-6 || cy > a.y1 + 1e-6) {
        ++skipped.outside[s];
        continue;
      }
      if (p.series[s].line) {
        curve.push_back({cx, cy});
        continue;
      }
      o << "<g><title>" << name << ": " << fmt_g(x) << ", " << fmt_g(y) << "</title><circle cx=\"" << num(cx)
        << "\" cy=\"" << num(cy) << "\" r=\"3.5\" fill=\"" << color << "\" fill-opacity=\"0.75\" stroke=\"" << color
        << "\" stroke-width=\"0.8\"/></g>\n";
    }
    if (curve.size() > 1)
      o << "<path d=\"" << clip_polyline(curve, g.area) << "\" fill=\"none\" stroke=\"" << color
        << "\" stroke-width=\"2\"><title>" << name << "</title></path>\n";
  }
  return skipped;
}

/// The legend, top left inside the plot (predicted-vs-measured data hug the diagonal, leaving it
/// free): each series with its drawn count, then the diagonal and the band when shown.
inline void scatter_legend(std::ostream& o, const ScatterPlot& p, const ScatterLayout& g, bool band,
                           const ScatterSkipped& skipped) {
  std::vector<std::pair<std::string, std::string>> entries;  // label, swatch: colour, "" (line) or "band"
  for (size_t s = 0; s < p.series.size(); ++s) {
    const size_t hidden = skipped.hidden[s], outside = skipped.outside[s];
    std::string label = p.series[s].name + " (n=" + std::to_string(p.series[s].points.size() - hidden - outside) + ")";
    if (hidden) label += ", " + std::to_string(hidden) + " not drawable";
    if (outside) label += ", " + std::to_string(outside) + " outside the axes";
    entries.emplace_back(label, (p.series[s].line ? "line " : "") + series_color(p, s));
  }
  if (p.diagonal) entries.emplace_back("y = x", "");
  if (band) entries.emplace_back("\u00b1" + fmt_g(p.band * 100, 3) + "%", "band");
  if (entries.empty()) return;
  size_t longest = 0;
  for (const auto& e : entries) longest = std::max(longest, e.first.size());
  const double lw = 34 + 7.0 * double(longest), lh = 8 + 18.0 * double(entries.size());
  const double lx = p.legend_bottom_right ? g.left + g.pw - 10 - lw : g.left + 10;
  const double ly = p.legend_bottom_right ? g.top + g.ph - 10 - lh : g.top + 10;
  o << "<g>\n<path d=\"" << box_path(lx, ly, lw, lh) << "\" fill=\"white\" stroke=\"#bbb\"/>\n";
  for (size_t i = 0; i < entries.size(); ++i) {
    const double cy = ly + 15 + 18.0 * double(i);
    const auto& [label, kind] = entries[i];
    if (kind.empty())
      o << "<path d=\"M" << num(lx + 6) << "," << num(cy) << "h18\" stroke=\"#222\" stroke-width=\"1.2\"/>\n";
    else if (kind.rfind("line ", 0) == 0)
      o << "<path d=\"M" << num(lx + 6) << "," << num(cy) << "h18\" stroke=\"" << xml_escape(kind.substr(5))
        << "\" stroke-width=\"2\"/>\n";
    else if (kind == "band")
      o << "<path d=\"" << box_path(lx + 6, cy - 5, 18, 10)
        << "\" fill=\"#ebebeb\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\n";
    else
      o << "<path d=\"" << box_path(lx + 11, cy - 4, 8, 8) << "\" fill=\"" << xml_escape(kind) << "\"/>\n";
    o << text(lx + 30, cy + 4, label);
  }
  o << "</g>\n";
}

}  // namespace detail

inline std::string scatter_svg(const ScatterPlot& p) {
  const detail::ScatterLayout g = detail::scatter_layout(p);
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << g.W << "\" height=\"" << g.H << "\" viewBox=\"0 0 "
    << g.W << " " << g.H << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<path d=\"" << detail::box_path(0, 0, g.W, g.H) << "\" fill=\"white\"/>\n";
  if (!p.title.empty()) o << detail::text(g.W / 2, 26, p.title, "text-anchor=\"middle\" font-size=\"15\"");
  const bool band = p.diagonal && p.band > 0;
  if (band) detail::scatter_band_fill(o, p, g);
  detail::scatter_grid(o, p, g);
  detail::scatter_guide_lines(o, p, g, band);
  const detail::ScatterSkipped skipped = detail::scatter_points(o, p, g);
  o << "<path d=\"" << detail::box_path(g.left, g.top, g.pw, g.ph)
    << "\" fill=\"none\" stroke=\"#333\" stroke-width=\"1\"/>\n";
  detail::scatter_legend(o, p, g, band, skipped);
  o << "</svg>\n";
  return o.str();
}

inline void write_scatter_svg(const std::string& path, const ScatterPlot& plot) {
  write_text_atomically(path, scatter_svg(plot));
}

inline std::string viridis_hex(double t) {
  const Rgb c = viridis(t);
  char b[8];
  std::snprintf(b, sizeof b, "#%02x%02x%02x", c.r, c.g, c.b);
  return b;
}

namespace detail {

inline std::string heatmap_row_label(const Heatmap& m, size_t r) {
  return m.row_labels.empty() ? std::to_string(r) : m.row_labels[r];
}
inline std::string heatmap_col_label(const Heatmap& m, size_t c) {
  return m.col_labels.empty() ? std::to_string(c) : m.col_labels[c];
}

/// Throws Error unless the rows are equally long and the labels, when given, match the shape.
inline void check_heatmap_shape(const Heatmap& m) {
  const size_t rows = m.values.size(), cols = rows ? m.values[0].size() : 0;
  for (size_t r = 0; r < rows; ++r)
    if (m.values[r].size() != cols)
      throw Error("heatmap '" + m.title + "': row " + std::to_string(r) + " has " + std::to_string(m.values[r].size()) +
                  " values, row 0 has " + std::to_string(cols));
  if (!m.row_labels.empty() && m.row_labels.size() != rows)
    throw Error("heatmap '" + m.title + "': " + std::to_string(m.row_labels.size()) + " row labels for " +
                std::to_string(rows) + " rows");
  if (!m.col_labels.empty() && m.col_labels.size() != cols)
    throw Error("heatmap '" + m.title + "': " + std::to_string(m.col_labels.size()) + " column labels for " +
                std::to_string(cols) + " columns");
}

/// The colour scale {lo, hi}: vmin/vmax, else the finite values' range; widened when empty.
inline std::pair<double, double> heatmap_value_range(const Heatmap& m) {
  double lo = 0, hi = 0;
  bool any = false;
  for (const auto& row : m.values)
    for (double v : row)
      if (std::isfinite(v)) lo = any ? std::min(lo, v) : v, hi = any ? std::max(hi, v) : v, any = true;
  if (m.vmin) lo = *m.vmin;
  if (m.vmax) hi = *m.vmax;
  if (!any && !m.vmin && !m.vmax) lo = 0, hi = 1;
  if (!(hi > lo)) {
    const double w = std::max(0.5, 0.1 * std::abs(lo));
    lo -= w, hi += w;
  }
  return {lo, hi};
}

/// Where a heatmap draws: canvas, cell grid (cw × ch per cell) and colour scale [lo, hi].
struct HeatmapLayout {
  size_t rows, cols, longest_col;
  double lo, hi;
  double W, H, left, right, top, pw, cw, ph, ch;
  bool col_vertical;  // column labels too wide to lie flat
};

inline HeatmapLayout heatmap_layout(const Heatmap& m) {
  HeatmapLayout g{};
  g.rows = m.values.size(), g.cols = g.rows ? m.values[0].size() : 0;
  const auto [lo, hi] = heatmap_value_range(m);
  g.lo = lo, g.hi = hi;
  size_t longest_row = 1;
  g.longest_col = 1;
  for (size_t r = 0; r < g.rows; ++r) longest_row = std::max(longest_row, heatmap_row_label(m, r).size());
  for (size_t c = 0; c < g.cols; ++c) g.longest_col = std::max(g.longest_col, heatmap_col_label(m, c).size());
  g.W = std::max(m.width, 240), g.H = std::max(m.height, 180);
  g.left = 34 + 7.0 * double(longest_row), g.right = 96, g.top = m.title.empty() ? 16 : 42;
  g.pw = g.W - g.left - g.right;
  g.cw = g.cols ? g.pw / double(g.cols) : g.pw;
  g.col_vertical = g.cw < 7.0 * double(g.longest_col) + 4;
  const double bottom = 36 + (g.col_vertical ? 7.0 * double(g.longest_col) : 14);
  g.ph = g.H - g.top - bottom, g.ch = g.rows ? g.ph / double(g.rows) : g.ph;
  return g;
}

/// Cells: exactly rows × cols <rect>s, non-finite values grey; then the frame.
inline void heatmap_cells(std::ostream& o, const Heatmap& m, const HeatmapLayout& g) {
  o << "<g shape-rendering=\"crispEdges\" stroke=\"none\">\n";
  for (size_t r = 0; r < g.rows; ++r)
    for (size_t c = 0; c < g.cols; ++c) {
      const double v = m.values[r][c];
      const std::string fill = std::isfinite(v) ? viridis_hex((v - g.lo) / (g.hi - g.lo)) : "#d0d0d0";
      o << "<rect x=\"" << num(g.left + double(c) * g.cw) << "\" y=\"" << num(g.top + double(r) * g.ch)
        << "\" width=\"" << num(g.cw + 0.02) << "\" height=\"" << num(g.ch + 0.02) << "\" fill=\"" << fill
        << "\"><title>" << xml_escape(heatmap_row_label(m, r) + " / " + heatmap_col_label(m, c)) << ": " << fmt_g(v)
        << "</title></rect>\n";
    }
  o << "</g>\n";
  o << "<path d=\"" << box_path(g.left, g.top, g.pw, g.ph) << "\" fill=\"none\" stroke=\"#333\"/>\n";
}

/// Row and column labels, thinned to every k-th when the cells are too small to hold them all;
/// then the axis labels.
inline void heatmap_labels(std::ostream& o, const Heatmap& m, const HeatmapLayout& g) {
  const size_t row_every = std::max<size_t>(1, size_t(std::ceil(13.0 / std::max(g.ch, 1e-9))));
  const double col_need = g.col_vertical ? 13.0 : 7.0 * double(g.longest_col) + 6;
  const size_t col_every = std::max<size_t>(1, size_t(std::ceil(col_need / std::max(g.cw, 1e-9))));
  o << "<g fill=\"#333\">\n";
  for (size_t r = 0; r < g.rows; r += row_every)
    o << text(g.left - 5, g.top + (double(r) + 0.5) * g.ch + 4, heatmap_row_label(m, r), "text-anchor=\"end\"");
  for (size_t c = 0; c < g.cols; c += col_every) {
    const double x = g.left + (double(c) + 0.5) * g.cw, y = g.top + g.ph + 14;
    if (g.col_vertical)
      o << text(0, 0, heatmap_col_label(m, c),
                "text-anchor=\"end\" transform=\"" + turned_left(x + 4, g.top + g.ph + 6) + "\"");
    else
      o << text(x, y, heatmap_col_label(m, c), "text-anchor=\"middle\"");
  }
  o << "</g>\n";
  if (!m.x_label.empty()) o << text(g.left + g.pw / 2, g.H - 10, m.x_label, "text-anchor=\"middle\" font-size=\"12\"");
  if (!m.y_label.empty())
    o << text(0, 0, m.y_label,
              "text-anchor=\"middle\" font-size=\"12\" transform=\"" + turned_left(16, g.top + g.ph / 2) + "\"");
}

/// Colour bar with ticks: stacked slices rather than a gradient, which not every renderer draws.
inline void heatmap_colour_bar(std::ostream& o, const Heatmap& m, const HeatmapLayout& g) {
  const double bx = g.W - g.right + 14, bw = 16;
  constexpr int kSlices = 64;
  o << "<g class=\"hw-colour-bar\" stroke=\"none\" shape-rendering=\"crispEdges\">\n";
  for (int i = 0; i < kSlices; ++i) {
    const double y0 = g.top + g.ph * (1 - double(i + 1) / kSlices);
    o << "<path d=\"" << box_path(bx, y0, bw, g.ph / kSlices + 0.3) << "\" fill=\"" << viridis_hex((i + 0.5) / kSlices)
      << "\"/>\n";
  }
  o << "</g>\n<path d=\"" << box_path(bx, g.top, bw, g.ph) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  const auto ticks = linear_ticks(g.lo, g.hi, 5);
  o << "<g fill=\"#333\">\n";
  for (double v : ticks) {
    const double y = g.top + g.ph - (v - g.lo) / (g.hi - g.lo) * g.ph;
    o << "<path d=\"M" << num(bx + bw) << "," << num(y) << "h4\" stroke=\"#333\"/>\n";
    o << text(bx + bw + 7, y + 4, tick_label(v, ticks, false));
  }
  o << "</g>\n";
  if (!m.value_label.empty()) o << text(bx + bw / 2, g.top - 6, m.value_label, "text-anchor=\"middle\"");
}

}  // namespace detail

inline std::string heatmap_svg(const Heatmap& m) {
  detail::check_heatmap_shape(m);
  const detail::HeatmapLayout g = detail::heatmap_layout(m);
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << g.W << "\" height=\"" << g.H << "\" viewBox=\"0 0 "
    << g.W << " " << g.H << "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  o << "<path d=\"" << detail::box_path(0, 0, g.W, g.H) << "\" fill=\"white\"/>\n";
  if (!m.title.empty()) o << detail::text(g.W / 2, 24, m.title, "text-anchor=\"middle\" font-size=\"15\"");
  detail::heatmap_cells(o, m, g);
  detail::heatmap_labels(o, m, g);
  detail::heatmap_colour_bar(o, m, g);
  o << "</svg>\n";
  return o.str();
}

inline void write_heatmap_svg(const std::string& path, const Heatmap& map) {
  write_text_atomically(path, heatmap_svg(map));
}

namespace detail {

/// Says why no PNG was made (when the caller asked) and returns false.
inline bool no_png(std::string* why_no_png, const std::string& why) {
  if (why_no_png) *why_no_png = why;
  return false;
}

/// The points as CSV: series_index,x,y,series, the name last so a quoted comma in it cannot
/// shift x and y.
inline std::string scatter_csv(const ScatterPlot& p) {
  std::ostringstream data;
  data << "series_index,x,y,series\n";
  for (size_t s = 0; s < p.series.size(); ++s)
    for (const auto& [x, y] : p.series[s].points)
      data << s << "," << fmt_g(x, 10) << "," << fmt_g(y, 10) << "," << csv_field(p.series[s].name) << "\n";
  return data.str();
}

/// The plot command's items: the band, the diagonal, then one per series (a placeholder when
/// there is nothing to plot, which gnuplot would reject).
inline std::vector<std::string> scatter_gnuplot_items(const ScatterPlot& p) {
  std::vector<std::string> items;
  if (p.diagonal && p.band > 0) {
    const std::string b = fmt_g(p.band, 6), pct = fmt_g(p.band * 100, 3);
    items.push_back("'+' using 1:((1-" + b + ")*$1):((1+" + b + ")*$1) with filledcurves fc rgb '#bbbbbb' "
                    "fs transparent solid 0.3 noborder title '+/-" + pct + "%'");
  }
  if (p.diagonal) items.push_back("x with lines lc rgb '#222222' lw 1.2 title 'y = x'");
  for (size_t s = 0; s < p.series.size(); ++s)
    items.push_back("data every ::1 using 2:(column(1) == " + std::to_string(s) +
                    " ? $3 : 1/0) " + (p.series[s].line ? "with lines lw 2" : "with points pt 7 ps 0.7") +
                    " lc rgb " + gp_quote(series_color(p, s)) + " title " +
                    gp_quote(p.series[s].name));
  if (items.empty()) items.push_back("1/0 notitle");
  return items;
}

/// The gnuplot script: plots `csv_abs` with the SVG's ranges to `out`, by default `png_abs`
/// (`gnuplot -e "out = '…'"` overrides it).
inline std::string scatter_gnuplot_script(const ScatterPlot& p, const std::pair<AxisRange, AxisRange>& ranges,
                                          const std::string& gp, const std::string& png, const std::string& csv_abs,
                                          const std::string& png_abs) {
  namespace fs = std::filesystem;
  const auto& [xr, yr] = ranges;
  std::ostringstream g;
  g << "# hwaware scatter plot: gnuplot " << fs::path(gp).filename().string() << " renders "
    << fs::path(png).filename().string() << "\n"
    << "if (!exists('out')) out = " << gp_quote(png_abs) << "\n"
    << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
    << "  set terminal pngcairo size " << p.width << "," << p.height << " noenhanced font 'sans,10'\n"
    << "} else {\n  set terminal png size " << p.width << "," << p.height << " noenhanced\n}\n"
    << "set output out\n"
    << "set datafile separator ','\n"
    << "set title " << gp_quote(p.title) << "\n"
    << "set xlabel " << gp_quote(p.x.label) << "\n"
    << "set ylabel " << gp_quote(p.y.label) << "\n"
    << (xr.log ? "set logscale x\n" : "") << (yr.log ? "set logscale y\n" : "")
    << "set xrange [" << fmt_g(xr.lo, 10) << ":" << fmt_g(xr.hi, 10) << "]\n"
    << "set yrange [" << fmt_g(yr.lo, 10) << ":" << fmt_g(yr.hi, 10) << "]\n"
    << "set grid lc rgb '#e4e4e4'\nset key " << (p.legend_bottom_right ? "bottom right" : "top left")
    << " box opaque\nset samples 200\n"
    << "data = " << gp_quote(csv_abs) << "\n"
    << "plot \\\n";
  const std::vector<std::string> items = scatter_gnuplot_items(p);
  for (size_t i = 0; i < items.size(); ++i) g << "  " << items[i] << (i + 1 < items.size() ? ", \\\n" : "\n");
  return g.str();
}

/// Runs `gnuplot` on the script `gp`, rendering to a temp file renamed to `png_abs` on success:
/// no half-written PNG. Returns whether the PNG was made; if not, `*why_no_png` says why.
inline bool render_gnuplot_png(const std::string& gnuplot, const std::string& gp, const std::string& png_abs,
                               std::string* why_no_png) {
  namespace fs = std::filesystem;
  std::optional<AtomicFile> png_file;
  try {
    png_file.emplace(png_abs);
  } catch (const FileError& e) {
    return no_png(why_no_png, e.what());
  }
  const std::string tmp_png = png_file->temp_path().string(), err_file = tmp_png + ".err";
  auto read_err = [&] {
    std::ifstream in(err_file);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::error_code ec;
    fs::remove(err_file, ec);
    return s;
  };
  ProcessResult r;
  try {
    r = run_process({gnuplot, "-e", "out = " + gp_quote(tmp_png), gp}, {.stderr_path = err_file});
  } catch (const Error& e) {
    read_err();
    return no_png(why_no_png, e.what());
  }
  const std::string err = read_err();
  std::error_code ec;
  if (!r.succeeded() || fs::file_size(tmp_png, ec) == 0 || ec) {
    const std::string status = r.exit_code > 0 ? " with exit status " + std::to_string(r.exit_code) : std::string();
    return no_png(why_no_png, "gnuplot " + gp + " failed" + status + (err.empty() ? "" : ": " + err));
  }
  try {
    png_file->commit();
  } catch (const FileError& e) {
    return no_png(why_no_png, e.what());
  }
  return true;
}

}  // namespace detail

inline bool write_scatter_gnuplot(const std::string& path_prefix, const ScatterPlot& p, std::string* why_no_png) {
  namespace fs = std::filesystem;
  const std::string csv = path_prefix + ".csv", gp = path_prefix + ".gp", png = path_prefix + ".png";
  write_text_atomically(csv, detail::scatter_csv(p));
  const auto ranges = scatter_ranges(p);
  const std::string csv_abs = fs::absolute(csv).string(), png_abs = fs::absolute(png).string();
  write_text_atomically(gp, detail::scatter_gnuplot_script(p, ranges, gp, png, csv_abs, png_abs));
  const std::string gnuplot = detail::find_on_path("gnuplot");
  if (gnuplot.empty())
    return detail::no_png(why_no_png, "gnuplot is not on PATH (" + csv + " and " + gp + " were written)");
  return detail::render_gnuplot_png(gnuplot, gp, png_abs, why_no_png);
}

}  // namespace hwaware::report
