#pragma once
// Atomic file replacement: the new content goes to a unique temporary file in the target's
// directory (so the final rename stays on one filesystem, where POSIX makes it atomic) and is
// renamed over the target only once it is complete. A reader sees the old file or the whole new
// one, never a half-written file; a failed write leaves the target as it was and no temp file.
//
//   write_file_atomically("model.txt", [&](std::ostream& out) { out << text; });
//
//   AtomicFile png("plot.png");                // for a file another program writes
//   run_renderer(png.temp_path());
//   png.commit();
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "hwaware/core/error.hpp"

namespace hwaware {

/// A temporary file beside `target`, created empty by the constructor (with the permissions a new
/// file gets, umask applied), renamed over `target` by commit(), removed by the destructor when
/// not committed. Not copyable.
class AtomicFile {
 public:
  /// Throws FileError naming `target` and the reason when the temp file cannot be created (a
  /// missing directory, no permission).
  explicit AtomicFile(std::filesystem::path target);
  ~AtomicFile() { discard(); }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }

  /// Renames the temp file over the target. With `durable`, first fsyncs the file and afterwards
  /// the directory (so the new content survives a power loss, not only a crash of this process).
  /// Throws FileError naming the target and what failed; the temp file is then removed.
  void commit(bool durable = false);
  /// Removes the temp file (if still there); the target is untouched.
  void discard() noexcept;

 private:
  std::filesystem::path target_, temp_;
  bool open_ = false;
};

/// Writes `target` atomically: `write(out)` fills a temp file through `out`, which is then
/// flushed and checked before the rename (`durable` as in AtomicFile::commit). Throws FileError
/// naming `target` when the temp file cannot be created, the stream fails, or the rename fails;
/// an exception from `write` propagates unchanged. In every failure the target is unchanged and
/// the temp file is removed.
template <class Write>
  requires std::invocable<Write&, std::ostream&>
void write_file_atomically(const std::filesystem::path& target, Write&& write, bool durable = false);

/// Writes `text` to `target` atomically (bytes as given, no newline translation).
inline void write_file_atomically(const std::filesystem::path& target, std::string_view text, bool durable = false) {
  write_file_atomically(target, [&](std::ostream& out) { out.write(text.data(), std::streamsize(text.size())); },
                        durable);
}

/// Creates `dir` (with its parents; empty means the current directory) and checks a new file can
/// be made in it by creating and removing a probe file, so a tool can refuse an unwritable output
/// before hours of work. Throws FileError "<what>: cannot ... '<dir>': <reason>".
inline void ensure_writable_dir(const std::filesystem::path& dir, const std::string& what);

/// ensure_writable_dir on the directory `file` goes in; also refuses a `file` that is a directory.
inline void ensure_writable_parent(const std::filesystem::path& file, const std::string& what);

// ---------------------------------------------------------------------------------------------
namespace detail {

/// A name suffix no other writer uses: the process id, a per-process counter and random bits
/// (the pid alone collides between threads, and across hosts sharing a directory).
inline std::string unique_temp_suffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1)) + "." +
         std::to_string(rng() & 0xffffff);
}

inline void fsync_path(const std::filesystem::path& p, int flags, const std::string& what) {
  const int fd = ::open(p.c_str(), flags | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw FileError(what + ": " + std::strerror(err));
  }
  ::close(fd);
}

}  // namespace detail

inline AtomicFile::AtomicFile(std::filesystem::path target) : target_(std::move(target)) {
  for (int attempt = 0;; ++attempt) {
    temp_ = target_;
    temp_ += detail::unique_temp_suffix();
    // O_EXCL: never open a file another writer created; mode 0666 lets the umask decide, as for
    // a file created by std::ofstream.
    const int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) {
      ::close(fd);
      open_ = true;
      return;
    }
    const int err = errno;
    if (err != EEXIST || attempt >= 16)
      throw FileError("cannot write '" + target_.string() + "': creating the temporary file '" + temp_.string() +
                      "' failed: " + std::strerror(err));
  }
}

inline void AtomicFile::commit(bool durable) {
  if (!open_) throw FileError("cannot write '" + target_.string() + "': the temporary file was already committed or discarded");
  try {
    if (durable) detail::fsync_path(temp_, O_RDONLY, "cannot write '" + target_.string() + "': fsync of '" + temp_.string() + "' failed");
    std::error_code ec;
    std::filesystem::rename(temp_, target_, ec);
    if (ec)
      throw FileError("cannot write '" + target_.string() + "': renaming '" + temp_.string() + "' over it failed: " +
                      ec.message());
  } catch (...) {
    discard();
    throw;
  }
  open_ = false;
  if (durable) {  // best effort: some filesystems refuse to fsync a directory; the data is synced
    const auto dir = target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
    try {
      detail::fsync_path(dir, O_RDONLY | O_DIRECTORY, "fsync of '" + dir.string() + "'");
    } catch (const FileError&) {
    }
  }
}

inline void AtomicFile::discard() noexcept {
  if (!open_) return;
  std::error_code ec;
  std::filesystem::remove(temp_, ec);
  open_ = false;
}

template <class Write>
  requires std::invocable<Write&, std::ostream&>
void write_file_atomically(const std::filesystem::path& target, Write&& write, bool durable) {
  AtomicFile file(target);
  {
    std::ofstream out(file.temp_path(), std::ios::binary | std::ios::trunc);
    if (!out) throw FileError("cannot write '" + target.string() + "': opening '" + file.temp_path().string() + "' failed");
    write(out);
    out.flush();
    if (!out) throw FileError("cannot write '" + target.string() + "': writing '" + file.temp_path().string() + "' failed");
    out.close();
    if (!out) throw FileError("cannot write '" + target.string() + "': closing '" + file.temp_path().string() + "' failed");
  }
  file.commit(durable);
}

inline void ensure_writable_dir(const std::filesystem::path& dir, const std::string& what) {
  const std::filesystem::path d = dir.empty() ? std::filesystem::path(".") : dir;
  std::error_code ec;
  std::filesystem::create_directories(d, ec);
  if (ec) throw FileError(what + ": cannot create the directory '" + d.string() + "': " + ec.message());
  if (!std::filesystem::is_directory(d, ec)) throw FileError(what + ": '" + d.string() + "' is not a directory");
  // O_EXCL with a unique name: never touches a file someone else made, even when runs share `d`.
  const std::filesystem::path probe = d / (".write-test" + detail::unique_temp_suffix());
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    const int err = errno;
    throw FileError(what + ": cannot create a file in '" + d.string() + "': " + std::strerror(err));
  }
  ::close(fd);
  std::filesystem::remove(probe, ec);
}

inline void ensure_writable_parent(const std::filesystem::path& file, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    throw FileError(what + ": '" + file.string() + "' is a directory, not a file");
  ensure_writable_dir(file.parent_path(), what);
}

}  // namespace hwaware
