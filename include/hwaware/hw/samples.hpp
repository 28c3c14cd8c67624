#pragma once
// Latency data sets: measured samples (a network description — one layer or a whole network —
// and its measured latency statistics), stored as JSON lines with the device fingerprint and the
// units in a header line. Loading a set measured under another fingerprint is refused.
//
// File format (one JSON object per line):
//   {"format":"hwaware-latency","version":1,"units":{"latency":"ms","energy":"mJ"},"fingerprint":{...},
//    "passes":3,"group":12,"reference":{"family":"ref-cnn","ms":..}}   (sets written before the
//    drift reference have none of the three: one pass, groups of 12, no reference)
//   {"kind":"network","family":"resnet-8","name":"...","layers":[{LayerDesc}...],
//    "median_ms":..,"iqr_ms":..,"cv":..,"runs":..,"energy_mj":null}
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "hwaware/core/atomic_file.hpp"
#include "hwaware/core/error.hpp"
#include "hwaware/core/layer_desc.hpp"
#include "hwaware/hw/fingerprint.hpp"
#include "hwaware/hw/measurement.hpp"

namespace hwaware::hw {

/// The network description (core/layer_desc.hpp), also reachable as hw::LayerDesc, hw::NetDesc.
using hwaware::LayerDesc;
using hwaware::NetDesc;

struct LatencySample {
  std::string kind;    // "layer" or "network"
  std::string family;  // zoo family ("ref-cnn", ...) or layer type
  std::string name;    // unique within a data set
  NetDesc layers;
  Measurement m;
  double energy_mj = -1;  // < 0: not measured
};

/// A layer as a JSON object; the kind is stored by name under "type".
inline nlohmann::json layer_to_json(const LayerDesc& d) {
  return {{"name", d.name},     {"type", std::string(to_string(d.kind))},     {"in", {d.in_c, d.in_h, d.in_w}}, {"out", {d.out_c, d.out_h, d.out_w}},
          {"kernel", d.kernel}, {"stride", d.stride}, {"padding", d.padding},        {"groups", d.groups},
          {"macs", d.macs},     {"params", d.params}, {"fused_relu", d.fused_relu}};
}

inline LayerDesc layer_from_json(const nlohmann::json& j) {
  LayerDesc d;
  d.name = j.at("name");
  d.kind = parse_layer_kind(j.at("type").get<std::string>());
  d.in_c = j.at("in")[0], d.in_h = j.at("in")[1], d.in_w = j.at("in")[2];
  d.out_c = j.at("out")[0], d.out_h = j.at("out")[1], d.out_w = j.at("out")[2];
  d.kernel = j.at("kernel"), d.stride = j.at("stride"), d.padding = j.at("padding"), d.groups = j.at("groups");
  d.macs = j.at("macs"), d.params = j.at("params"), d.fused_relu = j.at("fused_relu");
  return d;
}

inline nlohmann::json net_to_json(const NetDesc& n) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& l : n) a.push_back(layer_to_json(l));
  return a;
}

inline NetDesc net_from_json(const nlohmann::json& a) {
  NetDesc n;
  for (const auto& l : a) n.push_back(layer_from_json(l));
  return n;
}

/// The unit a data set's figures are in: a reference network measured beside every interleaved
/// group, and what it read when the data set was started. A probe's reading in a group counts as
/// reading × `ms` / the reference's reading in that group, so the machine's drift between groups —
/// and between the processes that add to one data set — cancels instead of landing in the samples.
struct DriftReference {
  std::string family;        // the reference is this zoo family at its default widths, 1×28×28
  std::optional<double> ms;  // its latency in the data set's units (unset: the first group sets it)
};

namespace detail {
/// A whole number in [1, 100] under `key` of a data set's header line (`fallback` when absent).
inline int header_count(const nlohmann::json& head, const char* key, int fallback) {
  if (!head.contains(key)) return fallback;
  const auto& v = head.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 100)
    throw FileError(std::string("header '") + key + "' must be a whole number in [1, 100] (got " + v.dump() + ")");
  return int(v.get<int64_t>());
}
}  // namespace detail

struct LatencyDataset {
  Fingerprint fingerprint;
  std::vector<LatencySample> samples;
  std::optional<DriftReference> reference;  // none: figures in each group's own units (older sets)
  int passes = 1;                           // groups each probe was measured in (its figure: the median)
  int group = 12;                           // probes measured together in a group (beside the reference)

  std::vector<const LatencySample*> of_kind(const std::string& kind) const {
    std::vector<const LatencySample*> r;
    for (const auto& s : samples)
      if (s.kind == kind) r.push_back(&s);
    return r;
  }

  /// Writes the set atomically (temp file + rename); throws FileError naming `path`.
  void save(const std::string& path) const {
    write_file_atomically(path, [&](std::ostream& out) {
      nlohmann::json head{{"format", "hwaware-latency"},
                          {"version", 1},
                          {"units", {{"latency", "ms"}, {"energy", "mJ"}}},
                          {"fingerprint", fingerprint.to_json()},
                          {"passes", passes},
                          {"group", group}};
      if (reference && reference->ms) head["reference"] = {{"family", reference->family}, {"ms", *reference->ms}};
      out << head.dump() << "\n";
      for (const auto& s : samples)
        out << nlohmann::json{{"kind", s.kind},          {"family", s.family},     {"name", s.name},
                              {"layers", net_to_json(s.layers)}, {"median_ms", s.m.median_ms},
                              {"iqr_ms", s.m.iqr_ms},    {"cv", s.m.cv},           {"min_ms", s.m.min_ms},
                              {"runs", s.m.runs},        {"rejected", s.m.rejected}, {"energy_mj", s.energy_mj}}
                   .dump()
            << "\n";
    });
  }

  /// Reads a set; when `expected` is given, refuses a set measured under another fingerprint.
  static LatencyDataset load(const std::string& path, const Fingerprint* expected = nullptr) {
    std::ifstream in(path);
    if (!in) throw FileError("latency data set '" + path + "': cannot open");
    LatencyDataset d;
    std::string line;
    int64_t lineno = 0;
    try {
      if (!std::getline(in, line)) throw FileError("empty file");
      ++lineno;
      auto head = nlohmann::json::parse(line);
      if (head.value("format", "") != "hwaware-latency") throw FileError("not a hwaware latency data set (header)");
      if (head.value("version", 0) != 1)
        throw FileError("unsupported version " + head.value("version", nlohmann::json()).dump() + " (supported: 1)");
      d.fingerprint = Fingerprint::from_json(head.at("fingerprint"));
      d.passes = detail::header_count(head, "passes", 1);
      d.group = detail::header_count(head, "group", 12);
      if (head.contains("reference")) {
        const auto& r = head.at("reference");
        if (!r.is_object() || !r.contains("family") || !r.at("family").is_string() || !r.contains("ms") ||
            !r.at("ms").is_number() || !(r.at("ms").get<double>() > 0))
          throw FileError("header 'reference' must be {\"family\": a zoo model, \"ms\": a positive latency} (got " +
                          r.dump() + ")");
        d.reference = DriftReference{r.at("family").get<std::string>(), r.at("ms").get<double>()};
      }
      while (std::getline(in, line)) {
        ++lineno;
        if (line.empty()) continue;
        auto j = nlohmann::json::parse(line);
        LatencySample s;
        s.kind = j.at("kind"), s.family = j.at("family"), s.name = j.at("name");
        s.layers = net_from_json(j.at("layers"));
        s.m.median_ms = j.at("median_ms"), s.m.iqr_ms = j.at("iqr_ms"), s.m.cv = j.at("cv");
        s.m.min_ms = j.at("min_ms"), s.m.runs = j.at("runs"), s.m.rejected = j.at("rejected");
        s.energy_mj = j.at("energy_mj");
        d.samples.push_back(std::move(s));
      }
    } catch (const nlohmann::json::exception& e) {
      throw FileError("latency data set '" + path + "', line " + std::to_string(lineno) + ": " + e.what());
    } catch (const Error& e) {  // a malformed header or an unknown layer kind
      throw FileError("latency data set '" + path + "', line " + std::to_string(lineno) + ": " + e.what());
    }
    if (expected) {
      const std::string diff = expected->difference(d.fingerprint);
      if (!diff.empty())
        throw FileError("latency data set '" + path + "' was measured on another device: " + diff +
                        " (this device vs the file's); re-measure it here");
    }
    return d;
  }
};

}  // namespace hwaware::hw
