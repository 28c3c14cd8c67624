#pragma once
// Parameters of the ops every backend implements, and the shape arithmetic they share.
#include <cstdint>
#include <string>

#include "hwaware/core/error.hpp"
#include "hwaware/core/layer_desc.hpp"
#include "hwaware/core/tensor.hpp"

namespace hwaware {

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;  // 1 = ordinary convolution (PyTorch convention)
  int64_t groups = 1;
  /// Inference only: a ReLU applied to the output inside the conv (oneDNN post-op); with BN
  /// folded into the weights this is conv+BN+ReLU in one primitive, as a deployment runtime runs it.
  bool post_relu = false;
};

/// Output spatial size of a convolution or pooling window.
inline int64_t window_out(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation = 1) {
  return (in + 2 * pad - dilation * (k - 1) - 1) / stride + 1;
}

/// Output shape of conv2d(x [N,C,H,W], w [O, C/groups, KH, KW]); throws ShapeError on mismatch.
inline Shape conv2d_out_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  check_shapes(x.size() == 4 && w.size() == 4, "conv2d", "input must be [N,C,H,W] and weight [O,C/g,KH,KW]", x, w);
  check_shapes(p.groups >= 1 && x[1] % p.groups == 0 && w[0] % p.groups == 0 && w[1] * p.groups == x[1], "conv2d",
               "input channels / groups must equal weight dim 1 and both channel counts divide by groups", x, w);
  const int64_t oh = window_out(x[2], w[2], p.stride_h, p.pad_h, p.dilation_h);
  const int64_t ow = window_out(x[3], w[3], p.stride_w, p.pad_w, p.dilation_w);
  check_shapes(oh > 0 && ow > 0, "conv2d", "kernel larger than the padded input", x, w);
  return {x[0], w[0], oh, ow};
}

enum class PoolKind : uint8_t { max, avg };

struct Pool2dParams {
  PoolKind kind = PoolKind::max;
  int64_t kernel_h = 2, kernel_w = 2;
  int64_t stride_h = 2, stride_w = 2;
  int64_t pad_h = 0, pad_w = 0;  // avg pooling counts padded zeros (PyTorch's count_include_pad=True)
};

inline Shape pool2d_out_shape(const Shape& x, const Pool2dParams& p) {
  check_shapes(x.size() == 4, "pool2d", "input must be [N,C,H,W]", x);
  const int64_t oh = window_out(x[2], p.kernel_h, p.stride_h, p.pad_h);
  const int64_t ow = window_out(x[3], p.kernel_w, p.stride_w, p.pad_w);
  check_shapes(oh > 0 && ow > 0, "pool2d", "window larger than the padded input", x,
               {p.kernel_h, p.kernel_w});
  return {x[0], x[1], oh, ow};
}

enum class Activation : uint8_t { relu, relu6, sigmoid };

/// The described kind of an activation.
inline LayerKind layer_kind_of(Activation a) {
  switch (a) {
    case Activation::relu: return LayerKind::relu;
    case Activation::relu6: return LayerKind::relu6;
    case Activation::sigmoid: return LayerKind::sigmoid;
  }
  throw Error("layer_kind_of: unknown activation " + std::to_string(int(a)));
}

inline const char* activation_name(Activation a) {
  switch (a) {
    case Activation::relu: return "relu";
    case Activation::relu6: return "relu6";
    case Activation::sigmoid: return "sigmoid";
  }
  return "?";
}

/// Result of a training-mode batch normalisation forward.
struct BatchNormForward {
  Tensor y;
  Tensor mean;       // [C], batch mean
  Tensor var;        // [C], biased batch variance
  Tensor workspace;  // backend-specific (fused ReLU mask); may be undefined
};

struct BatchNormGrads {
  Tensor dx, dgamma, dbeta;
};

struct ConvWeightGrads {
  Tensor dw, db;  // db undefined without bias
};

struct LinearGrads {
  Tensor dx, dw, db;
};

struct PoolForward {
  Tensor y;
  Tensor workspace;  // max-pool argmax (backend-specific); may be undefined
};

}  // namespace hwaware
