#pragma once
// Directories for tests that write files: a fresh one per call (process id + counter + random
// suffix), so two tests, two processes or two build trees testing at once never share a path.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace hwtest {

/// Creates and returns a new directory under the system's temp directory; the caller removes it.
inline std::filesystem::path unique_temp_dir(const std::string& name) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  const auto p = std::filesystem::temp_directory_path() /
                 ("hwaware_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
                  std::to_string(rd() % 1000000));
  std::filesystem::create_directories(p);
  return p;
}

/// A unique_temp_dir that is removed, with everything in it, when the object goes out of scope.
struct TempDir {
  explicit TempDir(const std::string& name = "test") : path(unique_temp_dir(name)) {}
  ~TempDir() {
    std::error_code ignored;  // a test that failed half-way must not throw from here
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// A path inside the directory, as a string (what the library's file APIs take).
  std::string file(const std::string& name) const { return (path / name).string(); }

  const std::filesystem::path path;
};

}  // namespace hwtest
