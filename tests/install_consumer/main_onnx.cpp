// Uses the installed package's optional component hwaware::onnx: a linear layer becomes a graph.
#include <hwaware/export/onnx.hpp>

int main() {
  hwaware::nn::Sequential net;
  net.emplace<hwaware::nn::Linear>(4, 2);
  const auto model = hwaware::to_onnx_model(net, {.input_chw = {4, 1, 1}});
  return model.graph().node_size() == 2 ? 0 : 1;  // Flatten, Gemm
}
