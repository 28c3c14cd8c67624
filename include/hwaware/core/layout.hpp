#pragma once
// How a 4-D (N, C, H, W) activation lies in memory. Its own header so that the runtime plan and
// the latency models name layouts without the tensor.
#include <cstdint>

namespace hwaware {

/// plain = row-major NCHW (any rank); blocked16 = oneDNN's nChw16c: channels in blocks of 16,
/// the last block zero-padded; nhwc = channels last (what oneDNN runs fastest for layers with
/// fewer than 16 channels). Only the oneDNN backend produces non-plain tensors.
enum class Layout : uint8_t { plain, blocked16, nhwc };

inline const char* layout_name(Layout l) {
  switch (l) {
    case Layout::plain: return "plain";
    case Layout::blocked16: return "nChw16c";
    case Layout::nhwc: return "nhwc";
  }
  return "?";
}

}  // namespace hwaware
