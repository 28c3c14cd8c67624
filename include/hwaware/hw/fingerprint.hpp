#pragma once
// Fingerprint of a measuring device: a latency measured under one fingerprint is not evidence
// about another (other CPU, ISA, thread count, library version), so every measurement and every
// data set carries one, and loading refuses a mismatch naming the field that differs.
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>


namespace hwaware::hw {

inline constexpr const char* kLibraryVersion = "0.1.0";

struct Fingerprint {
  std::string device;           // "onednn-cpu", or a CommandDevice's name
  std::string cpu_model;        // /proc/cpuinfo "model name"
  std::string isa;              // the ISA oneDNN dispatches to
  std::string onednn_version;   // e.g. "2.6.3"
  std::string library_version;  // hwaware's
  std::string runtime;          // how the library executes inference (thread policy, fusions)
  int threads = 1;
  int batch = 1;

  nlohmann::json to_json() const {
    return {{"device", device},           {"cpu_model", cpu_model}, {"isa", isa}, {"onednn_version", onednn_version},
            {"library_version", library_version}, {"runtime", runtime}, {"threads", threads}, {"batch", batch}};
  }
  static Fingerprint from_json(const nlohmann::json& j) {
    Fingerprint f;
    f.device = j.at("device");
    f.cpu_model = j.at("cpu_model");
    f.isa = j.at("isa");
    f.onednn_version = j.at("onednn_version");
    f.library_version = j.at("library_version");
    f.runtime = j.value("runtime", std::string("unrecorded"));  // data sets from before the field
    f.threads = j.at("threads");
    f.batch = j.at("batch");
    return f;
  }
  /// Empty when the fingerprints match; otherwise names the first field that differs.
  std::string difference(const Fingerprint& o) const {
    const auto a = to_json(), b = o.to_json();
    for (auto it = a.begin(); it != a.end(); ++it)
      if (b.at(it.key()) != it.value())
        return "field '" + it.key() + "' differs: " + it.value().dump() + " vs " + b.at(it.key()).dump();
    return "";
  }
  bool operator==(const Fingerprint& o) const { return difference(o).empty(); }
};

inline std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      return p == std::string::npos ? line : line.substr(line.find_first_not_of(' ', p + 1));
    }
  return "unknown";
}

}  // namespace hwaware::hw
