#pragma once
// Channel counts as the kernels compute them: oneDNN's blocked layout (nChw16c) stores channels
// in blocks of kChannelBlock, the last block zero-padded, so a width of 17 costs as much as 32.
// The tensors' storage and the latency models' features both round with padded_channels.
#include <cstdint>

namespace hwaware {

/// Channels per block of the blocked layout (AVX-512: 16 fp32 lanes).
inline constexpr int64_t kChannelBlock = 16;

/// c rounded up to a multiple of `block` (the channel count the runtime computes on); a block
/// below 1 is taken as 1 (no padding).
constexpr int64_t padded_channels(int64_t c, int64_t block = kChannelBlock) {
  const int64_t b = block > 0 ? block : 1;
  return (c + b - 1) / b * b;
}

}  // namespace hwaware
