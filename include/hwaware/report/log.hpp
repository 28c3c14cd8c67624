#pragma once
// Progress lines of long runs (device figures, decisions of a budget controller): one reporter
// that methods write through, so a caller can silence them or send them elsewhere.
#include <cstdarg>
#include <cstdio>

namespace hwaware::report {

class Log {
 public:
  explicit Log(bool enabled = true, std::FILE* out = stderr) : out_(out), enabled_(enabled) {}

  bool enabled() const { return enabled_; }

  /// One line, printf-style (the newline is added).
  [[gnu::format(printf, 2, 3)]] void line(const char* format, ...) const {
    if (!enabled_ || !out_) return;
    va_list args;
    va_start(args, format);
    std::vfprintf(out_, format, args);
    va_end(args);
    std::fputc('\n', out_);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  bool enabled_;
};

}  // namespace hwaware::report
