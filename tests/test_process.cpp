// Running a program: exit status, redirection, environment, a timeout that stops the child's group.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "hwaware/core/process.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace hwaware;

namespace {

/// A fresh directory per test, removed at its end.
struct TempDir : hwtest::TempDir {
  TempDir() : hwtest::TempDir("test_process") {}
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("exit status, output to files, extra environment") {
  TempDir tmp;
  const std::string out = (tmp.path / "out").string(), err = (tmp.path / "err").string();
  const auto r = run_process({"sh", "-c", "echo \"$HWAWARE_X\"; echo oops >&2; exit 3"},
                             {.stdout_path = out, .stderr_path = err, .env = {"HWAWARE_X=hello"}});
  CHECK(!r.timed_out);
  CHECK(r.exit_code == 3);
  CHECK(!r.succeeded());
  CHECK(read_text(out) == "hello\n");
  CHECK(read_text(err) == "oops\n");
  CHECK(run_process({"true"}).succeeded());
}

TEST_CASE("a timeout terminates the child and its process group") {
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_process({"sh", "-c", "sleep 20 & sleep 20"}, {.timeout_s = 0.3, .own_process_group = true});
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(r.timed_out);
  CHECK(secs < 5);
}

TEST_CASE("a program that does not exist: Error naming it") {
  std::string msg;
  try {
    run_process({"hwaware-no-such-program"});
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("hwaware-no-such-program") != std::string::npos);
  CHECK_THROWS_AS(run_process({}), Error);
}
