// Channel rounding: padded_channels (the blocked layout's count) and fast_channels (full speed).
#include <doctest/doctest.h>

#include "hwaware/core/channel_padding.hpp"
#include "hwaware/hw/fast_channels.hpp"

using namespace hwaware;

TEST_CASE("padded_channels rounds up to the block, 16 by default") {
  CHECK(padded_channels(1) == 16);
  CHECK(padded_channels(16) == 16);
  CHECK(padded_channels(17) == 32);
  CHECK(padded_channels(5, 8) == 8);
  CHECK(padded_channels(5, 0) == 5);  // no block: no padding
  static_assert(padded_channels(33, 16) == 48);
}

TEST_CASE("fast_channels: powers of two up to the block, multiples of it above") {
  CHECK(hw::fast_channels(3, 16) == 4);
  CHECK(hw::fast_channels(8, 16) == 8);
  CHECK(hw::fast_channels(12, 16) == 16);
  CHECK(hw::fast_channels(17, 16) == 32);
  CHECK(hw::fast_channels(24, 16) == 32);
  CHECK(hw::fast_channels(7, 1) == 7);
}
