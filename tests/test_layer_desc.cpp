// The network description: kind names both ways, and the JSON form the latency data sets store.
#include <doctest/doctest.h>

#include <string>

#include "hwaware/core/layer_desc.hpp"
#include "hwaware/hw/samples.hpp"

using namespace hwaware;

TEST_CASE("every kind's name parses back to the kind") {
  for (LayerKind k : {LayerKind::conv2d, LayerKind::batchnorm2d, LayerKind::linear, LayerKind::relu,
                      LayerKind::relu6, LayerKind::sigmoid, LayerKind::max_pool2d, LayerKind::avg_pool2d,
                      LayerKind::global_avg_pool, LayerKind::flatten, LayerKind::add, LayerKind::concat})
    CHECK(parse_layer_kind(to_string(k)) == k);
  CHECK(to_string(LayerKind::global_avg_pool) == "global_avg_pool");
}

TEST_CASE("an unknown kind name is refused with the name in the message") {
  try {
    parse_layer_kind("conv3d");
    FAIL("no exception");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("'conv3d'") != std::string::npos);
  }
}

TEST_CASE("the JSON form keeps the kind as its name under \"type\"") {
  LayerDesc d{"features.0", LayerKind::max_pool2d, 16, 28, 28, 16, 14, 14};
  d.kernel = 2, d.stride = 2, d.macs = 16 * 14 * 14 * 4;
  const nlohmann::json j = hw::layer_to_json(d);
  CHECK(j.at("type") == "max_pool2d");
  const LayerDesc back = hw::layer_from_json(j);
  CHECK(back.kind == LayerKind::max_pool2d);
  CHECK(back.name == d.name);
  CHECK(back.out_h == 14);
  CHECK(back.macs == d.macs);
  nlohmann::json bad = j;
  bad["type"] = "pool3d";
  CHECK_THROWS_AS(hw::layer_from_json(bad), Error);
  CHECK(total_macs({d, d}) == 2 * d.macs);
}
