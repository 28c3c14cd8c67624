#pragma once
// Colours the plots and pictures share: an 8-bit RGB triple and the viridis scale (perceptually
// uniform, readable in greyscale), so an SVG heat map and a PNG heat overlay read alike.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace hwaware::report {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

/// Colour of t ∈ [0, 1] on the viridis scale (matplotlib's, sampled at 9 points, linear between).
inline Rgb viridis(double t) {
  static const uint8_t k[9][3] = {{0x44, 0x01, 0x54}, {0x47, 0x2c, 0x7a}, {0x3b, 0x51, 0x8b},
                                  {0x2c, 0x71, 0x8e}, {0x21, 0x90, 0x8d}, {0x27, 0xad, 0x81},
                                  {0x5c, 0xc8, 0x63}, {0xaa, 0xdc, 0x32}, {0xfd, 0xe7, 0x25}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 8;
  const int i = std::min(int(t), 7);
  const double f = t - i;
  auto mix = [&](int c) { return uint8_t(std::lround(k[i][c] + f * (k[i + 1][c] - k[i][c]))); };
  return {mix(0), mix(1), mix(2)};
}

}  // namespace hwaware::report
