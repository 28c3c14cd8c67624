#pragma once
// Internals shared by the predictors' text file formats (MLP and LUT): a line reader whose every
// error names the file and the line. Numbers are written in the shortest form that reads back to
// the same double (std::to_chars) and read with std::from_chars, so a save → load round trip is exact.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/hw/fingerprint.hpp"

namespace hwaware::hw::detail {

/// `v` in the shortest form that reads back to the same double.
inline std::string shortest(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

/// Appends numbers separated by spaces, each in its shortest exact form.
inline void append_numbers(std::string& line, const double* v, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (i) line += ' ';
    line += shortest(v[i]);
  }
}

/// Reads a text model file line by line; every error names the file and the line number.
class TextModelReader {
 public:
  TextModelReader(const std::string& path, std::string what) : path_(path), what_(std::move(what)), in_(path) {
    if (!in_) throw FileError(what_ + " '" + path_ + "': cannot open");
  }

  [[noreturn]] void fail(const std::string& msg) const {
    throw FileError(what_ + " '" + path_ + "', line " + std::to_string(line_no_) + ": " + msg);
  }
  int line_no() const { return line_no_; }
  const std::string& path() const { return path_; }

  /// The next line (fails at the end of the file: every format ends with an explicit "end").
  const std::string& next_line() {
    if (!std::getline(in_, line_)) {
      ++line_no_;
      fail("unexpected end of file (truncated?)");
    }
    ++line_no_;
    return line_;
  }

  /// The next line split on whitespace; when `keyword` is given, the first token must be it.
  std::vector<std::string> next_tokens(std::string_view keyword = {}) {
    std::istringstream is(next_line());
    std::vector<std::string> t;
    for (std::string s; is >> s;) t.push_back(std::move(s));
    if (!keyword.empty() && (t.empty() || t[0] != keyword))
      fail("expected '" + std::string(keyword) + "', found '" + (t.empty() ? std::string() : t[0]) + "'");
    return t;
  }

  double to_double(const std::string& s) const {
    double v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) fail("not a finite number: '" + s + "'");
    return v;
  }
  int64_t to_int(const std::string& s) const {
    int64_t v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) fail("not an integer: '" + s + "'");
    return v;
  }

  /// A line of exactly n numbers (after `skip` leading tokens).
  std::vector<double> next_numbers(size_t n, std::string_view keyword = {}) {
    const auto t = next_tokens(keyword);
    const size_t skip = keyword.empty() ? 0 : 1;
    if (t.size() != n + skip)
      fail("expected " + std::to_string(n) + " numbers, found " + std::to_string(t.size() - skip));
    std::vector<double> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = to_double(t[i + skip]);
    return v;
  }

  /// The first two lines of every predictor file: "<magic> <version>", then the fingerprint
  /// as one JSON line. Checks the magic and the version; returns the fingerprint.
  Fingerprint read_header(std::string_view magic, int version) {
    const auto t = next_tokens();
    if (t.size() != 2 || t[0] != magic)
      fail("not a " + std::string(magic) + " file (first line must be '" + std::string(magic) + " " +
           std::to_string(version) + "')");
    if (to_int(t[1]) != version)
      fail("unsupported version " + t[1] + " (this build reads version " + std::to_string(version) + ")");
    const std::string& j = next_line();
    try {
      return Fingerprint::from_json(nlohmann::json::parse(j));
    } catch (const nlohmann::json::exception& e) {
      fail(std::string("bad fingerprint line: ") + e.what());
    }
  }

  /// Checks the fingerprint read from the file against the expected one.
  void check_fingerprint(const Fingerprint& in_file, const Fingerprint* expected) const {
    if (!expected) return;
    const std::string diff = expected->difference(in_file);
    if (!diff.empty())
      throw FileError(what_ + " '" + path_ + "' was fitted on another device: " + diff +
                      " (expected vs the file's); fit it again on this device's measurements");
  }

 private:
  std::string path_, what_;
  std::ifstream in_;
  std::string line_;
  int line_no_ = 0;
};

}  // namespace hwaware::hw::detail
