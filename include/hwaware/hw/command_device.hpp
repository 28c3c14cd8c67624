#pragma once
// CommandDevice: a Device for hardware this machine does not have (a board over ssh, a vendor's
// simulator). It exports the network description to a JSON file, runs a user-given shell command
// on it and parses the latency the command prints.
//
//   hw::CommandDevice board("jetson", "ssh jetson ./bench --model {model}", 120, fp);
//   hw::Measurement m = board.measure(*model, {1, 28, 28});
//
// The exported file (one JSON object):
//   {"format":"hwaware-net","version":1,"device":"jetson","input":[C,H,W],"batch":B,
//    "layers":[{LayerDesc as hw::layer_to_json}...]}
//
// What the command must print (stdout first, then stderr is searched; the last match wins):
//   latency_ms: 1.23        or   latency_ms=1.23
//   {"latency_ms": 1.23, "iqr_ms": 0.02, "cv": 0.01, "runs": 50, "min_ms": 1.2, "energy_mj": 4.5}
//     (one JSON object on one line; every key but latency_ms optional)
// A non-zero exit status, a timeout, or no parsable latency throws hwaware::Error naming the
// command, the exit status and the last lines of its output.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/hw/device.hpp"
#include "hwaware/hw/fingerprint.hpp"
#include "hwaware/hw/samples.hpp"

extern char** environ;

namespace hwaware::hw {

/// What one run of the command reported.
struct CommandResult {
  Measurement m;           // median_ms = the printed latency; runs = 1 unless the command says
  double energy_mj = -1;   // < 0: the command printed none
  std::string stdout_text;
  std::string stderr_text;
};

class CommandDevice {
 public:
  /// `command` is run by /bin/sh -c; every `{model}` in it is replaced by the exported file's
  /// path, single-quoted for the shell; the path is also in the environment as HWAWARE_MODEL.
  /// `timeout_s` bounds one run; the command's process group is then terminated.
  /// The fingerprint's `device` field is set to `name`; its other fields are the caller's.
  CommandDevice(std::string name, std::string command, double timeout_s, Fingerprint fp);

  Fingerprint fingerprint() const { return fp_; }
  const std::string& name() const { return name_; }
  const std::string& command_template() const { return command_; }
  double timeout_s() const { return timeout_s_; }

  /// Exports `model.describe(chw)` and measures it on the device.
  Measurement measure(nn::Module& model, const Shape& chw) { return run(model.describe(chw), chw).m; }
  /// Measures a description; the input shape is taken from its first layer.
  Measurement measure_desc(const NetDesc& net) { return run(net, input_of(net)).m; }
  Measurement measure_desc(const NetDesc& net, const Shape& chw) { return run(net, chw).m; }

  /// Everything the command reported (latency statistics, energy if printed, its output).
  CommandResult run(const NetDesc& net, const Shape& chw);

  /// The exported description (what the command's file contains).
  nlohmann::json description_json(const NetDesc& net, const Shape& chw) const;
  /// The shell command for a given description path.
  std::string command_for(const std::string& model_path) const;

 private:
  static Shape input_of(const NetDesc& net);

  std::string name_, command_;
  double timeout_s_;
  Fingerprint fp_;
};

static_assert(Device<CommandDevice>);

// ---------------------------------------------------------------------------------------------
namespace detail {

/// `s` as one shell word: single quotes, with each ' written as '\''.
inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// The last `n` non-empty lines of `text`, each indented, for an error message.
inline std::string last_lines(const std::string& text, size_t n) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (l.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(l);
  std::string r;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) r += "\n    " + lines[i];
  return r;
}

/// A private temporary directory (mkdtemp), removed with everything in it on destruction.
struct TempDirGuard {
  std::filesystem::path path;
  TempDirGuard() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hwaware_cmd_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw FileError("CommandDevice: cannot create a temp directory '" + tmpl + "': " + std::strerror(errno));
    path = tmpl;
  }
  ~TempDirGuard() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDirGuard(const TempDirGuard&) = delete;
  TempDirGuard& operator=(const TempDirGuard&) = delete;
};

inline std::string seconds_str(double s) {
  std::ostringstream os;
  os << s << " s";
  return os.str();
}

struct ProcessOutcome {
  bool timed_out = false;
  int exit_code = -1;    // when exited normally
  int signal = 0;        // when killed by a signal
  std::string out, err;
};

inline void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

/// Runs `/bin/sh -c command` in its own process group, stdin from /dev/null, the environment plus
/// `extra_env` ("NAME=value" entries), capturing stdout and stderr; after `timeout_s` the group
/// gets SIGTERM, then SIGKILL half a second later.
/// posix_spawn rather than fork: the caller may have OpenMP threads running.
inline ProcessOutcome run_shell(const std::string& command, double timeout_s,
                                const std::vector<std::string>& extra_env = {}) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw Error(std::string("CommandDevice: pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]), ::close(out_pipe[1]);
    throw Error(std::string("CommandDevice: pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t dfl;  // a caller ignoring SIGPIPE must not make the command ignore it too
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  std::vector<std::string> env_store = extra_env;
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const bool overridden = std::any_of(extra_env.begin(), extra_env.end(), [&](const std::string& x) {
      const auto eq = x.find('=');
      return entry.substr(0, eq + 1) == std::string_view(x).substr(0, eq + 1);
    });
    if (!overridden) envp.push_back(*e);
  }
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  int fds[2] = {out_pipe[0], err_pipe[0]};
  ::close(out_pipe[1]), ::close(err_pipe[1]);
  if (rc != 0) {
    close_fd(fds[0]), close_fd(fds[1]);
    throw Error("CommandDevice: cannot start /bin/sh for `" + command + "`: " + std::strerror(rc));
  }

  using clk = std::chrono::steady_clock;
  const auto deadline = clk::now() + std::chrono::duration_cast<clk::duration>(std::chrono::duration<double>(timeout_s));
  ProcessOutcome r;
  std::string* sinks[2] = {&r.out, &r.err};
  constexpr size_t kMaxCapture = size_t(8) << 20;  // a chatty command must not exhaust memory
  bool reaped = false;
  int wstatus = 0;
  std::optional<clk::time_point> reaped_at;
  char buf[8192];
  while (true) {
    if (!reaped) {
      const pid_t w = ::waitpid(pid, &wstatus, WNOHANG);
      if (w == pid) reaped = true, reaped_at = clk::now();
    }
    const bool open = fds[0] >= 0 || fds[1] >= 0;
    if (reaped && !open) break;
    // A grandchild left running in the background may keep the pipes open after the shell
    // exited: give it a moment, then stop reading.
    if (reaped && clk::now() - *reaped_at > std::chrono::milliseconds(500)) break;
    const auto now = clk::now();
    if (now >= deadline) {
      r.timed_out = true;
      break;
    }
    const int wait_ms = int(std::clamp<int64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1, 1, 50));
    if (!open) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(wait_ms, 10)));
      continue;
    }
    pollfd p[2];
    nfds_t n = 0;
    int which[2];
    for (int i = 0; i < 2; ++i)
      if (fds[i] >= 0) p[n] = {fds[i], POLLIN, 0}, which[n++] = i;
    const int ready = ::poll(p, n, wait_ms);
    if (ready < 0 && errno != EINTR) break;
    for (nfds_t k = 0; ready > 0 && k < n; ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int i = which[k];
      const ssize_t got = ::read(fds[i], buf, sizeof buf);
      if (got > 0) {
        if (sinks[i]->size() < kMaxCapture) sinks[i]->append(buf, size_t(got));
      } else if (got == 0 || errno != EINTR) {
        close_fd(fds[i]);
      }
    }
  }
  close_fd(fds[0]), close_fd(fds[1]);
  if (r.timed_out) {
    ::kill(-pid, SIGTERM);
    for (int i = 0; i < 50 && !reaped; ++i) {
      if (::waitpid(pid, &wstatus, WNOHANG) == pid) reaped = true;
      else std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(-pid, SIGKILL);  // also whatever the shell started that ignored SIGTERM
    if (!reaped) ::waitpid(pid, &wstatus, 0);
    return r;
  }
  if (WIFEXITED(wstatus)) r.exit_code = WEXITSTATUS(wstatus);
  else if (WIFSIGNALED(wstatus)) r.signal = WTERMSIG(wstatus);
  return r;
}

/// Parses the latency (and optional statistics) from a command's output; the last match wins.
inline std::optional<CommandResult> parse_latency(const std::string& text) {
  static const std::regex kv(R"(^\s*latency_ms\s*[:=]\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:ms)?\s*$)");
  std::optional<CommandResult> found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    std::smatch mt;
    if (line[first] == '{') {
      const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object() || !j.contains("latency_ms") || !j["latency_ms"].is_number()) continue;
      CommandResult r;
      r.m.median_ms = j["latency_ms"].get<double>();
      auto num = [&](const char* key, double fallback) {
        return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
      };
      r.m.iqr_ms = num("iqr_ms", 0);
      r.m.cv = num("cv", 0);
      r.m.min_ms = num("min_ms", r.m.median_ms);
      r.m.runs = int(num("runs", 1));
      r.energy_mj = num("energy_mj", -1);
      found = r;
    } else if (std::regex_match(line, mt, kv)) {
      CommandResult r;
      r.m.median_ms = std::strtod(mt[1].str().c_str(), nullptr);
      r.m.min_ms = r.m.median_ms;
      r.m.runs = 1;
      found = r;
    }
  }
  if (found && !(std::isfinite(found->m.median_ms) && found->m.median_ms >= 0)) return std::nullopt;
  return found;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
inline CommandDevice::CommandDevice(std::string name, std::string command, double timeout_s, Fingerprint fp)
    : name_(std::move(name)), command_(std::move(command)), timeout_s_(timeout_s), fp_(std::move(fp)) {
  if (command_.find_first_not_of(" \t") == std::string::npos)
    throw Error("CommandDevice '" + name_ + "': the command is empty");
  if (!(timeout_s_ > 0)) throw Error("CommandDevice '" + name_ + "': timeout must be positive (got " + std::to_string(timeout_s_) + " s)");
  fp_.device = name_;
}

inline Shape CommandDevice::input_of(const NetDesc& net) {
  if (net.empty()) throw Error("CommandDevice: cannot take the input shape of an empty network description");
  return {net.front().in_c, net.front().in_h, net.front().in_w};
}

inline nlohmann::json CommandDevice::description_json(const NetDesc& net, const Shape& chw) const {
  return {{"format", "hwaware-net"}, {"version", 1},         {"device", name_},
          {"input", chw},            {"batch", fp_.batch},   {"layers", net_to_json(net)}};
}

inline std::string CommandDevice::command_for(const std::string& model_path) const {
  const std::string quoted = detail::shell_quote(model_path);
  static const std::string kToken = "{model}";
  std::string c;
  size_t from = 0;
  for (size_t at; (at = command_.find(kToken, from)) != std::string::npos; from = at + kToken.size())
    c += command_.substr(from, at - from) + quoted;
  return c + command_.substr(from);
}

inline CommandResult CommandDevice::run(const NetDesc& net, const Shape& chw) {
  detail::TempDirGuard dir;
  const auto final_path = dir.path / "net.json";
  const auto tmp_path = dir.path / "net.json.tmp";
  {
    std::ofstream f(tmp_path);
    f << description_json(net, chw).dump(1) << "\n";
    f.flush();
    if (!f) throw FileError("CommandDevice '" + name_ + "': cannot write '" + tmp_path.string() + "'");
  }
  std::filesystem::rename(tmp_path, final_path);  // the command never sees a half-written file

  const std::string cmd = command_for(final_path.string());
  const auto p = detail::run_shell(cmd, timeout_s_, {"HWAWARE_MODEL=" + final_path.string()});
  auto fail = [&](const std::string& what) {
    std::string msg = "CommandDevice '" + name_ + "': command `" + cmd + "` " + what;
    const std::string out = detail::last_lines(p.out, 10), err = detail::last_lines(p.err, 10);
    msg += out.empty() ? "\n  stdout: (empty)" : "\n  stdout, last lines:" + out;
    msg += err.empty() ? "\n  stderr: (empty)" : "\n  stderr, last lines:" + err;
    return Error(msg);
  };
  if (p.timed_out)
    throw fail("timed out: still running when the timeout of " + detail::seconds_str(timeout_s_) +
               " expired; its process group was terminated");
  if (p.signal) throw fail("was killed by signal " + std::to_string(p.signal));
  if (p.exit_code != 0) throw fail("failed with exit status " + std::to_string(p.exit_code));
  auto r = detail::parse_latency(p.out);
  if (!r) r = detail::parse_latency(p.err);
  if (!r)
    throw fail("exited with status 0 but printed no parsable latency (expected a line `latency_ms: <ms>`, "
               "`latency_ms=<ms>`, or a JSON object with a non-negative \"latency_ms\")");
  r->stdout_text = p.out;
  r->stderr_text = p.err;
  return *r;
}

}  // namespace hwaware::hw
