// Uses the installed hwaware package: succeeds if a header resolves and a tensor can be made.
#include <hwaware/core/tensor.hpp>

int main() {
  auto t = hwaware::Tensor::zeros({2, 3});
  return t.numel() == 6 ? 0 : 1;
}
