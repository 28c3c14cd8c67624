#pragma once
// Progress of a long run: a redrawn one-line bar (epoch, batch, loss, accuracy, img/s, ETA) on a
// terminal; plain lines at every tenth of the epoch when the output is a file or a pipe.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace hwaware::report {

class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out = stderr, bool enabled = true)
      : out_(out), enabled_(enabled), tty_(isatty(fileno(out)) != 0) {}

  void start(const std::string& label, int64_t total) {
    label_ = label, total_ = total, last_decile_ = -1;
    t0_ = std::chrono::steady_clock::now();
  }

  /// Reports progress after `done` of `total` items; `images` processed so far this phase.
  void update(int64_t done, double loss, double accuracy, int64_t images) {
    if (!enabled_) return;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    const double ips = secs > 0 ? images / secs : 0;
    const double eta = done > 0 ? secs / double(done) * double(total_ - done) : 0;
    char line[256];
    std::snprintf(line, sizeof line, "%s %4lld/%-4lld loss %.4f acc %.4f %7.0f img/s ETA %5.1fs", label_.c_str(),
                  static_cast<long long>(done), static_cast<long long>(total_), loss, accuracy, ips, eta);
    if (tty_) {
      const int width = 24, filled = total_ ? int(width * done / total_) : width;
      std::fprintf(out_, "\r[%s%s] %s", std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), line);
      if (done == total_) std::fputc('\n', out_);
    } else {
      const int64_t decile = total_ ? 10 * done / total_ : 10;
      if (decile == last_decile_) return;
      last_decile_ = decile;
      std::fprintf(out_, "%s\n", line);
    }
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
  bool enabled_, tty_;
  std::string label_;
  int64_t total_ = 0, last_decile_ = -1;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace hwaware::report
