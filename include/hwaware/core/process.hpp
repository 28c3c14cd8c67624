#pragma once
// Running another program: argv with stdin, stdout and stderr redirected to files (or /dev/null),
// the environment plus a few entries, and an optional timeout after which the child (and, when it
// leads its own process group, everything it started) is terminated.
//
//   ProcessResult r = run_process({"gnuplot", "plot.gp"}, {.stderr_path = "err.txt"});
//   if (!r.succeeded()) ...
//
// posix_spawn, not fork: the caller may have OpenMP threads running, and a forked copy of a
// multi-threaded process may only call async-signal-safe functions before exec.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hwaware/core/error.hpp"

extern char** environ;

namespace hwaware {

struct ProcessOptions {
  std::string stdin_path = "/dev/null";   // opened for reading
  std::string stdout_path = "/dev/null";  // created or truncated
  std::string stderr_path = "/dev/null";  // created or truncated; may equal stdout_path
  std::vector<std::string> env;           // "NAME=value" entries added to (or replacing) the caller's
  double timeout_s = 0;                   // > 0: the child is terminated after this long
  bool own_process_group = false;         // the child leads a new group; termination reaches all of it
};

struct ProcessResult {
  bool timed_out = false;
  int exit_code = -1;  // when the child exited normally
  int signal = 0;      // when a signal ended it
  bool succeeded() const { return !timed_out && signal == 0 && exit_code == 0; }
};

/// Runs argv[0] (looked up on PATH when it has no '/') with `argv` as its arguments and waits for
/// it. On timeout the child (its group, with own_process_group) gets SIGTERM, then SIGKILL half a
/// second later, and the result says timed_out. Throws Error naming the program when `argv` is
/// empty or the program cannot be started (not found, a redirect that cannot be opened).
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// ---------------------------------------------------------------------------------------------
namespace detail {

/// The caller's environment with `extra` entries added; an extra entry replaces the caller's entry
/// of the same name. The pointers refer into `extra` and environ.
inline std::vector<char*> merged_environment(std::vector<std::string>& extra) {
  std::vector<char*> envp;
  for (auto& e : extra) envp.push_back(e.data());
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
      const auto eq = x.find('=');
      return entry.substr(0, eq + 1) == std::string_view(x).substr(0, eq + 1);
    });
    if (!replaced) envp.push_back(*e);
  }
  envp.push_back(nullptr);
  return envp;
}

/// Spawns the child; returns its pid or throws Error naming the program.
inline pid_t spawn_process(const std::vector<std::string>& argv, const ProcessOptions& o) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, o.stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, o.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (o.stderr_path == o.stdout_path) posix_spawn_file_actions_adddup2(&fa, 1, 2);
  else posix_spawn_file_actions_addopen(&fa, 2, o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (o.own_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t dfl;  // a caller ignoring SIGPIPE must not make the child ignore it too
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, flags);

  std::vector<std::string> args = argv, env = o.env;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<char*> envp = merged_environment(env);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0].c_str(), &fa, &attr, cargv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw Error("run_process: cannot start '" + argv[0] + "': " + std::strerror(rc));
  return pid;
}

/// waitpid without EINTR; `block` false returns 0 while the child runs.
inline pid_t wait_child(pid_t pid, int& status, bool block) {
  pid_t w;
  while ((w = ::waitpid(pid, &status, block ? 0 : WNOHANG)) < 0 && errno == EINTR) {
  }
  return w;
}

}  // namespace detail

inline ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& o) {
  if (argv.empty() || argv[0].empty()) throw Error("run_process: empty command (argv[0] is missing)");
  const pid_t pid = detail::spawn_process(argv, o);
  ProcessResult r;
  int status = 0;
  if (o.timeout_s > 0) {
    using clk = std::chrono::steady_clock;
    const auto deadline = clk::now() + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(o.timeout_s));
    auto pause = std::chrono::microseconds(200);  // short commands return quickly; long ones poll at 20 ms
    while (detail::wait_child(pid, status, false) == 0) {
      if (clk::now() >= deadline) {
        r.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(20000));
    }
  }
  const pid_t target = o.own_process_group ? -pid : pid;
  if (r.timed_out) {
    ::kill(target, SIGTERM);
    bool reaped = false;
    for (int i = 0; i < 50 && !reaped; ++i) {
      reaped = detail::wait_child(pid, status, false) == pid;
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(target, SIGKILL);  // also whatever the child started that ignored SIGTERM
    if (!reaped) detail::wait_child(pid, status, true);
    return r;
  }
  if (o.timeout_s <= 0) detail::wait_child(pid, status, true);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

}  // namespace hwaware
