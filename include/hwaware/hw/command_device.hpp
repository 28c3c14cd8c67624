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
#include <stdlib.h>

#include <cerrno>
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
#include <vector>

#include "hwaware/core/atomic_file.hpp"
#include "hwaware/core/error.hpp"
#include "hwaware/core/process.hpp"
#include "hwaware/hw/device.hpp"
#include "hwaware/hw/fingerprint.hpp"
#include "hwaware/hw/samples.hpp"

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

/// The first `limit` bytes of a file (a chatty command must not exhaust memory); empty if absent.
inline std::string read_capped(const std::filesystem::path& path, size_t limit = size_t(8) << 20) {
  std::ifstream in(path, std::ios::binary);
  std::string s(limit, '\0');
  in.read(s.data(), std::streamsize(limit));
  s.resize(size_t(in.gcount()));
  return s;
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
  write_file_atomically(final_path, description_json(net, chw).dump(1) + "\n");  // never half-written

  // The command runs in its own process group, so a timeout also stops what it started; its
  // output goes to files (a background child holding a pipe open cannot stall the wait).
  const std::string cmd = command_for(final_path.string());
  const auto out_path = dir.path / "stdout", err_path = dir.path / "stderr";
  ProcessResult p;
  try {
    p = run_process({"/bin/sh", "-c", cmd}, {.stdout_path = out_path.string(),
                                             .stderr_path = err_path.string(),
                                             .env = {"HWAWARE_MODEL=" + final_path.string()},
                                             .timeout_s = timeout_s_,
                                             .own_process_group = true});
  } catch (const Error& e) {
    throw Error("CommandDevice '" + name_ + "': cannot run `" + cmd + "`: " + e.what());
  }
  const std::string stdout_text = detail::read_capped(out_path), stderr_text = detail::read_capped(err_path);
  auto fail = [&](const std::string& what) {
    std::string msg = "CommandDevice '" + name_ + "': command `" + cmd + "` " + what;
    const std::string out = detail::last_lines(stdout_text, 10), err = detail::last_lines(stderr_text, 10);
    msg += out.empty() ? "\n  stdout: (empty)" : "\n  stdout, last lines:" + out;
    msg += err.empty() ? "\n  stderr: (empty)" : "\n  stderr, last lines:" + err;
    return Error(msg);
  };
  if (p.timed_out)
    throw fail("timed out: still running when the timeout of " + detail::seconds_str(timeout_s_) +
               " expired; its process group was terminated");
  if (p.signal) throw fail("was killed by signal " + std::to_string(p.signal));
  if (p.exit_code != 0) throw fail("failed with exit status " + std::to_string(p.exit_code));
  auto r = detail::parse_latency(stdout_text);
  if (!r) r = detail::parse_latency(stderr_text);
  if (!r)
    throw fail("exited with status 0 but printed no parsable latency (expected a line `latency_ms: <ms>`, "
               "`latency_ms=<ms>`, or a JSON object with a non-negative \"latency_ms\")");
  r->stdout_text = stdout_text;
  r->stderr_text = stderr_text;
  return *r;
}

}  // namespace hwaware::hw
