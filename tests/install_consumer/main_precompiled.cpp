// Uses the installed hwaware::precompiled: the entry points resolve from the library (this
// translation unit declares them only), and a zoo model it builds has parameters.
#include <hwaware/zerobn.hpp>

int main() {
  using namespace hwaware;
  auto run = &ZeroBN<>::run;  // defined in the library, not here
  auto net = models::make_model("ref-cnn");
  return run != nullptr && net->parameter_count() > 0 ? 0 : 1;
}
