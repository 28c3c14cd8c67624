// Atomic file replacement: content written, failures name the path and leave no temp file, an
// existing file is replaced only when the new content is complete.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>

#include "hwaware/core/atomic_file.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace hwaware;

namespace {

/// A fresh directory per test, removed at its end.
struct TempDir : hwtest::TempDir {
  TempDir() : hwtest::TempDir("test_atomic") {}
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int entries_in(const fs::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("the content is written, through a stream or as text, and no temp file remains") {
  TempDir tmp;
  const fs::path a = tmp.path / "a.txt", b = tmp.path / "b.bin";
  write_file_atomically(a, [](std::ostream& out) { out << "line 1\nline 2\n"; });
  CHECK(read_text(a) == "line 1\nline 2\n");
  const std::string bytes("x\0y\r\n", 5);
  write_file_atomically(b, std::string_view(bytes));
  CHECK(read_text(b) == bytes);
  CHECK(entries_in(tmp.path) == 2);
}

TEST_CASE("a missing directory: FileError naming the path, nothing left behind") {
  TempDir tmp;
  const fs::path target = tmp.path / "no" / "such" / "dir" / "model.txt";
  std::string msg;
  try {
    write_file_atomically(target, std::string_view("data"));
  } catch (const FileError& e) {
    msg = e.what();
  }
  CHECK(msg.find(target.string()) != std::string::npos);
  CHECK(entries_in(tmp.path) == 0);
}

TEST_CASE("an existing file is replaced only on success") {
  TempDir tmp;
  const fs::path target = tmp.path / "results.json";
  write_file_atomically(target, std::string_view("old"));

  SUBCASE("a writer that throws leaves the old content and no temp file") {
    CHECK_THROWS_AS(write_file_atomically(target,
                                          [](std::ostream& out) {
                                            out << "half of the new";
                                            throw std::runtime_error("interrupted");
                                          }),
                    std::runtime_error);
    CHECK(read_text(target) == "old");
    CHECK(entries_in(tmp.path) == 1);
  }
  SUBCASE("a rename that fails (the target is a directory) removes the temp file") {
    const fs::path occupied = tmp.path / "occupied";
    fs::create_directories(occupied / "child");
    CHECK_THROWS_AS(write_file_atomically(occupied, std::string_view("new")), FileError);
    CHECK(entries_in(tmp.path) == 2);  // results.json and the directory
  }
  SUBCASE("success replaces the content, durably if asked") {
    write_file_atomically(target, std::string_view("new"), /*durable=*/true);
    CHECK(read_text(target) == "new");
    CHECK(entries_in(tmp.path) == 1);
  }
}

TEST_CASE("AtomicFile: a file another program writes appears only on commit") {
  TempDir tmp;
  const fs::path target = tmp.path / "plot.png";
  {
    AtomicFile f(target);
    CHECK(f.temp_path().parent_path() == target.parent_path());
    std::ofstream(f.temp_path()) << "png";
    CHECK(!fs::exists(target));
  }  // not committed: discarded
  CHECK(entries_in(tmp.path) == 0);
  AtomicFile f(target);
  std::ofstream(f.temp_path()) << "png";
  f.commit();
  CHECK(read_text(target) == "png");
  CHECK(entries_in(tmp.path) == 1);
  CHECK_THROWS_AS(f.commit(), FileError);  // a second commit is refused
}

TEST_CASE("ensure_writable_dir and ensure_writable_parent: created when missing, refused with the flag and path named") {
  TempDir tmp;
  const auto nested = tmp.path / "a" / "b";
  ensure_writable_dir(nested, "--out-dir");
  CHECK(std::filesystem::is_directory(nested));
  CHECK(std::filesystem::is_empty(nested));  // the probe is gone
  ensure_writable_parent(tmp.path / "c" / "model.ckpt", "--checkpoint");
  CHECK(std::filesystem::is_directory(tmp.path / "c"));
  CHECK(!std::filesystem::exists(tmp.path / "c" / "model.ckpt"));

  std::ofstream(tmp.path / "plain") << "x";  // a path through a regular file cannot be a directory
  CHECK_THROWS_WITH_AS(ensure_writable_dir(tmp.path / "plain" / "d", "--out-dir"),
                       doctest::Contains("--out-dir: cannot create the directory"), FileError);
  CHECK_THROWS_WITH_AS(ensure_writable_parent(nested, "--checkpoint"), doctest::Contains("is a directory, not a file"),
                       FileError);
}
