// Tests for hwaware/report/image.hpp and colour.hpp: the PNG file decodes back to the pixels
// (chunk layout, CRCs, the deflated rows), the drawing operations put what they say where they
// say, and bad sizes are refused.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "hwaware/report/image.hpp"
#include "hwaware/report/svg_plot.hpp"
#include "temp_dir.hpp"

using namespace hwaware;

namespace {

uint32_t u32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | uint8_t(s[at + i]);
  return v;
}

struct Chunk {
  std::string type, data;
};

/// Splits a PNG file into chunks, checking each CRC on the way.
std::vector<Chunk> chunks(const std::string& png) {
  REQUIRE(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  std::vector<Chunk> out;
  for (size_t at = 8; at < png.size();) {
    const uint32_t len = u32(png, at);
    REQUIRE(at + 12 + len <= png.size());
    const auto* p = reinterpret_cast<const Bytef*>(png.data() + at + 4);
    CHECK(u32(png, at + 8 + len) == uint32_t(crc32(crc32(0L, Z_NULL, 0), p, len + 4)));
    out.push_back({png.substr(at + 4, 4), png.substr(at + 8, len)});
    at += 12 + len;
  }
  return out;
}

}  // namespace

TEST_CASE("PNG: signature, IHDR, one IDAT whose rows inflate back to the pixels, IEND") {
  report::RgbImage img(5, 3, {10, 20, 30});
  img.set(0, 0, {255, 0, 0});
  img.set(4, 2, {0, 0, 255});
  img.set(7, 7, {1, 2, 3});  // outside: ignored
  const auto cs = chunks(report::png_bytes(img));
  REQUIRE(cs.size() == 3);
  CHECK(cs[0].type == "IHDR");
  CHECK(u32(cs[0].data, 0) == 5);
  CHECK(u32(cs[0].data, 4) == 3);
  CHECK(cs[0].data.substr(8) == std::string("\x08\x02\x00\x00\x00", 5));
  CHECK(cs[1].type == "IDAT");
  CHECK(cs[2].type == "IEND");
  CHECK(cs[2].data.empty());

  std::vector<uint8_t> raw(3 * (1 + 5 * 3));
  uLongf size = raw.size();
  REQUIRE(uncompress(raw.data(), &size, reinterpret_cast<const Bytef*>(cs[1].data.data()), cs[1].data.size()) == Z_OK);
  REQUIRE(size == raw.size());
  for (int y = 0; y < 3; ++y) {
    CHECK(raw[size_t(y) * 16] == 0);  // filter type 0 on every row
    for (int x = 0; x < 5; ++x) {
      const uint8_t* p = &raw[size_t(y) * 16 + 1 + size_t(x) * 3];
      const report::Rgb want = img.at(x, y);
      CHECK(report::Rgb{p[0], p[1], p[2]} == want);
    }
  }
  CHECK(img.at(0, 0) == report::Rgb{255, 0, 0});
  CHECK(img.at(4, 2) == report::Rgb{0, 0, 255});
  CHECK(img.at(2, 1) == report::Rgb{10, 20, 30});
}

TEST_CASE("PNG: written atomically to a file that holds the same bytes") {
  const hwtest::TempDir tmp("test_image");
  report::RgbImage img(4, 4);
  const std::string path = (tmp.path / "a.png").string();
  report::write_png(path, img);
  std::ifstream in(path, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  CHECK(bytes == report::png_bytes(img));
  for (const auto& e : std::filesystem::directory_iterator(tmp.path)) CHECK(e.path().filename() == "a.png");
}

TEST_CASE("drawing: a grey image scaled up, a heat blend, a box outline") {
  report::RgbImage img(8, 6, {0, 0, 0});
  const float grey[2 * 3] = {0.f, 1.f, 0.5f, 2.f, -1.f, 0.25f};  // 3 wide, 2 high; out-of-range clamps
  img.blit_grey(grey, 3, 2, 1, 1, 2);
  CHECK(img.at(1, 1) == report::Rgb{0, 0, 0});
  CHECK(img.at(3, 2) == report::Rgb{255, 255, 255});  // (1, 0) of the image, 2× larger, from (1, 1)
  CHECK(img.at(5, 1) == report::Rgb{128, 128, 128});
  CHECK(img.at(1, 3) == report::Rgb{255, 255, 255});  // 2 clamps to white
  CHECK(img.at(3, 4) == report::Rgb{0, 0, 0});        // -1 clamps to black
  CHECK(img.at(0, 0) == report::Rgb{0, 0, 0});        // outside the blit: untouched

  report::RgbImage white(2, 1, {255, 255, 255});
  const float heat[2] = {0.f, 1.f};
  white.blend_heat(heat, 2, 1, 0, 0, 1, 0.5);
  CHECK(white.at(0, 0) == report::Rgb{255, 255, 255});  // cold: transparent
  const report::Rgb hot = report::viridis(1.0);
  CHECK(white.at(1, 0) == report::Rgb{uint8_t((255 + hot.r + 1) / 2), uint8_t((255 + hot.g + 1) / 2),
                                      uint8_t((255 + hot.b + 1) / 2)});

  report::RgbImage box(10, 10, {0, 0, 0});
  box.outline({2, 3, 8, 9}, {0, 255, 0}, 2);
  int green = 0;
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 10; ++x) green += box.at(x, y) == report::Rgb{0, 255, 0};
  CHECK(green == 6 * 6 - 2 * 2);  // the 6×6 box minus its 2×2 inside
  CHECK(box.at(2, 3) == report::Rgb{0, 255, 0});
  CHECK(box.at(7, 8) == report::Rgb{0, 255, 0});
  CHECK(box.at(4, 5) == report::Rgb{0, 0, 0});
  CHECK(box.at(8, 9) == report::Rgb{0, 0, 0});
}

TEST_CASE("viridis: the ends of matplotlib's scale, the SVG colour the same, bad input clamped") {
  CHECK(report::viridis(0) == report::Rgb{0x44, 0x01, 0x54});
  CHECK(report::viridis(1) == report::Rgb{0xfd, 0xe7, 0x25});
  CHECK(report::viridis(7) == report::viridis(1));
  CHECK(report::viridis(std::nan("")) == report::viridis(0));
  CHECK(report::viridis_hex(1) == "#fde725");
}

TEST_CASE("an image of no pixels or an absurd size is refused, naming the size") {
  CHECK_THROWS_WITH_AS(report::RgbImage(0, 4), doctest::Contains("0x4"), Error);
  CHECK_THROWS_AS(report::RgbImage(4, 1 << 20), Error);
}
