#pragma once
// RGB pictures without an image library: an 8-bit RGB raster, the few drawing operations the
// examples need (a grey image scaled up, a heat map blended over it, box outlines) and a PNG
// writer (truecolour, unfiltered rows deflated by zlib, CRC-32 per chunk), written atomically.
//
//   report::RgbImage img(192, 192);
//   img.blit_grey(pixels, 64, 64, 0, 0, 3);           // a 64×64 image in [0, 1], 3× larger
//   img.outline({10, 10, 90, 90}, {0, 200, 0}, 3);     // x0, y0, x1, y1 in img's pixels
//   report::write_png("picture.png", img);
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "hwaware/core/atomic_file.hpp"
#include "hwaware/core/error.hpp"
#include "hwaware/report/colour.hpp"

namespace hwaware::report {

/// An 8-bit RGB raster, row by row, 3 bytes per pixel.
class RgbImage {
 public:
  RgbImage(int64_t width, int64_t height, Rgb fill = {255, 255, 255}) : w_(width), h_(height) {
    if (width <= 0 || height <= 0 || width > 1 << 15 || height > 1 << 15)
      throw Error("RgbImage: size " + std::to_string(width) + "x" + std::to_string(height) +
                  " (each side must be in [1, 32768])");
    px_.resize(size_t(width * height * 3));
    for (int64_t i = 0; i < width * height; ++i) set_index(i, fill);
  }
  int64_t width() const { return w_; }
  int64_t height() const { return h_; }
  const std::vector<uint8_t>& bytes() const { return px_; }

  Rgb at(int64_t x, int64_t y) const {
    const uint8_t* p = &px_[size_t((y * w_ + x) * 3)];
    return {p[0], p[1], p[2]};
  }
  /// Sets a pixel; outside the image, nothing happens (drawing may run over the edge).
  void set(int64_t x, int64_t y, Rgb c) {
    if (x >= 0 && y >= 0 && x < w_ && y < h_) set_index(y * w_ + x, c);
  }
  /// A grey image (h × w floats, row-major, 0 = black, 1 = white, clamped) drawn at (x, y),
  /// each of its pixels a scale × scale square.
  void blit_grey(const float* v, int64_t w, int64_t h, int64_t x, int64_t y, int64_t scale) {
    for (int64_t r = 0; r < h * scale; ++r)
      for (int64_t c = 0; c < w * scale; ++c) {
        const auto g = uint8_t(std::lround(255.0 * std::clamp(double(v[(r / scale) * w + c / scale]), 0.0, 1.0)));
        set(x + c, y + r, {g, g, g});
      }
  }
  /// Blends a heat map (h × w in [0, 1]) over the image at (x, y) like blit_grey: viridis(heat)
  /// with opacity max_alpha · heat, so cold regions keep the picture underneath.
  void blend_heat(const float* heat, int64_t w, int64_t h, int64_t x, int64_t y, int64_t scale, double max_alpha) {
    for (int64_t r = 0; r < h * scale; ++r)
      for (int64_t c = 0; c < w * scale; ++c) {
        const int64_t X = x + c, Y = y + r;
        if (X < 0 || Y < 0 || X >= w_ || Y >= h_) continue;
        const double t = std::clamp(double(heat[(r / scale) * w + c / scale]), 0.0, 1.0), a = max_alpha * t;
        const Rgb under = at(X, Y), over = viridis(t);
        auto mix = [a](uint8_t u, uint8_t o) { return uint8_t(std::lround((1 - a) * u + a * o)); };
        set(X, Y, {mix(under.r, over.r), mix(under.g, over.g), mix(under.b, over.b)});
      }
  }
  /// The outline of the pixel box [x0, x1) × [y0, y1), `thickness` pixels wide, inside the box.
  void outline(std::array<int64_t, 4> box, Rgb c, int64_t thickness = 1) {
    const auto [x0, y0, x1, y1] = box;
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = x0; x < x1; ++x)
        if (x < x0 + thickness || x >= x1 - thickness || y < y0 + thickness || y >= y1 - thickness) set(x, y, c);
  }

 private:
  void set_index(int64_t i, Rgb c) {
    uint8_t* p = &px_[size_t(i * 3)];
    p[0] = c.r, p[1] = c.g, p[2] = c.b;
  }
  int64_t w_, h_;
  std::vector<uint8_t> px_;
};

namespace detail {

inline void put_u32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(char((v >> shift) & 0xff));
}

/// One chunk: length, type, data, CRC-32 of type and data.
inline void png_chunk(std::string& out, const char (&type)[5], const std::string& data) {
  put_u32(out, uint32_t(data.size()));
  const size_t start = out.size();
  out.append(type, 4);
  out += data;
  const auto* p = reinterpret_cast<const Bytef*>(out.data() + start);
  put_u32(out, uint32_t(crc32(crc32(0L, Z_NULL, 0), p, uInt(out.size() - start))));
}

}  // namespace detail

/// The PNG file of `img`: signature, IHDR (8-bit RGB, no interlace), one IDAT, IEND.
inline std::string png_bytes(const RgbImage& img) {
  std::string out("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr;
  detail::put_u32(ihdr, uint32_t(img.width()));
  detail::put_u32(ihdr, uint32_t(img.height()));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // depth 8, colour type 2 (RGB), deflate, filter 0, no interlace
  detail::png_chunk(out, "IHDR", ihdr);
  const size_t row = size_t(img.width()) * 3;
  std::string raw;
  raw.reserve((row + 1) * size_t(img.height()));
  for (int64_t y = 0; y < img.height(); ++y) {
    raw.push_back('\0');  // filter type 0: the row as it is
    raw.append(reinterpret_cast<const char*>(img.bytes().data()) + size_t(y) * row, row);
  }
  uLongf packed_size = compressBound(uLong(raw.size()));
  std::string packed(packed_size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(packed.data()), &packed_size, reinterpret_cast<const Bytef*>(raw.data()),
                uLong(raw.size()), 6) != Z_OK)
    throw Error("png_bytes: zlib could not deflate a " + std::to_string(img.width()) + "x" +
                std::to_string(img.height()) + " image");
  packed.resize(packed_size);
  detail::png_chunk(out, "IDAT", packed);
  detail::png_chunk(out, "IEND", "");
  return out;
}

/// Writes `img` as a PNG file, atomically (temp file + rename); throws FileError on failure.
inline void write_png(const std::string& path, const RgbImage& img) { write_file_atomically(path, png_bytes(img)); }

}  // namespace hwaware::report
