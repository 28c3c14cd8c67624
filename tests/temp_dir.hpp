#pragma once
// A fresh directory per call (process id + counter + random suffix), so two build trees testing
// at once never share a path.
#include <atomic>
#include <filesystem>
#include <random>
#include <string>
#include <unistd.h>

namespace hwtest {
inline std::filesystem::path unique_temp_dir(const std::string& name) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  const auto p = std::filesystem::temp_directory_path() /
                 ("hwaware_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
                  std::to_string(rd() % 1000000));
  std::filesystem::create_directories(p);
  return p;
}
}  // namespace hwtest
