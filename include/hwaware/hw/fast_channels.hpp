#pragma once
// The channel counts the runtime computes at full speed, which pruners and width samplers round
// to. Standard library only.
#include <algorithm>
#include <cstdint>

namespace hwaware::hw {

/// c rounded up to a count the runtime computes at full speed: above the block a multiple of it,
/// up to it a power of two (capped at the block). On this CPU (AVX-512, block 16) a multiple of 8
/// that is not one of 16 runs slower than the next multiple of 16, and 4 and 8 run faster than 16
/// (measured with `profile_device --widths`; figures at zerobn::SelectionGuards).
inline int64_t fast_channels(int64_t c, int64_t block) {
  if (block <= 1) return c;
  if (c > block) return (c + block - 1) / block * block;
  int64_t p = 1;
  while (p < c) p *= 2;
  return std::min(p, block);
}

}  // namespace hwaware::hw
