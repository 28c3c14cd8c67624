#pragma once
// Checkpoints: named tensors plus JSON metadata in a versioned, checksummed binary file, written
// atomically so a crash mid-save leaves the previous checkpoint intact.
//
// Format version 1 (integers little-endian):
//   "HWAWCKPT"                 8-byte magic
//   u32 version                = 1
//   u32 meta_len, meta_len bytes of JSON (UTF-8)
//   u32 tensor_count, then per tensor:
//     u32 name_len, name bytes, u8 dtype (0 = f32, 1 = i32), u8 rank, rank × i64 dims,
//     numel × 4 bytes of data in plain row-major layout
//   u32 CRC-32 (zlib) of every preceding byte
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "hwaware/core/atomic_file.hpp"
#include "hwaware/core/error.hpp"
#include "hwaware/core/tensor.hpp"

namespace hwaware {

// The format stores numbers in the host's byte order, which the file defines as little-endian.
static_assert(std::endian::native == std::endian::little, "hwaware checkpoints assume a little-endian host");

inline constexpr char kCheckpointMagic[8] = {'H', 'W', 'A', 'W', 'C', 'K', 'P', 'T'};
inline constexpr uint32_t kCheckpointVersion = 1;

/// What a checkpoint holds: named tensors (e.g. "conv1.weight", optimizer state) and free-form
/// metadata (epoch, LR, accuracy, the network description).
struct Checkpoint {
  std::vector<std::pair<std::string, Tensor>> tensors;
  nlohmann::json meta;
};

/// Writes `ckpt` to `path` in format version 1. Blocked tensors are stored in plain layout.
/// Atomic and durable (AtomicFile): the bytes go to a temp file beside `path`, are flushed and
/// fsync'ed, and the temp file is renamed over `path`; readers see either the old file or the
/// complete new one.
/// Throws Error (before touching the disk) for an undefined tensor or a repeated name, and
/// FileError naming the file for any I/O failure, after removing the temp file.
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);

/// Reads a checkpoint written by save_checkpoint; tensors come back plain.
/// Throws FileError naming `path` and the byte offset when the file is missing or unreadable, the
/// magic is not "HWAWCKPT", the version is not one this build reads (naming both), the file ends
/// early or has bytes after the checksum, a field is invalid, the CRC-32 does not match
/// ("checksum mismatch: file is corrupt"), or the metadata is not valid JSON.
Checkpoint load_checkpoint(const std::string& path);

/// Copies each checkpoint tensor named in `targets` into the existing target tensor, keeping the
/// target's storage and layout (so references held by optimizers and caches stay valid), and
/// bumps the target's version. Checkpoint tensors not named in `targets` are ignored (a caller
/// may restore a model without its optimizer state).
/// Throws Error when a name is missing from the checkpoint, a target is null or undefined, or the
/// dtype or shape differs ("checkpoint tensor 'conv1.weight' has shape [..] but the model expects
/// [..]"); targets before the failing one have already been written.
void restore_into(const Checkpoint& ckpt, std::vector<std::pair<std::string, Tensor*>> targets);

// ---------------------------------------------------------------------------------------------
// Implementation

namespace detail {

inline const char* checkpoint_dtype_name(DType t) { return t == DType::f32 ? "f32" : "i32"; }

inline std::string checkpoint_hex32(uint32_t v) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
  return buf;
}

/// Sequential writer that keeps the running CRC-32 of what it wrote.
class CheckpointWriter {
 public:
  CheckpointWriter(std::FILE* f, const std::string& path) : file_(f), path_(path) {}

  void bytes(const void* p, size_t n) {
    if (n == 0) return;
    if (std::fwrite(p, 1, n, file_) != n) {
      const int err = errno;
      throw FileError("checkpoint '" + path_ + "': write failed at byte offset " + std::to_string(offset_) + ": " +
                      std::strerror(err));
    }
    // zlib's crc32 takes a uInt length, so feed large tensors in pieces.
    const auto* b = static_cast<const Bytef*>(p);
    for (size_t done = 0; done < n;) {
      const uInt piece = static_cast<uInt>(std::min<size_t>(n - done, 1u << 30));
      crc_ = ::crc32(crc_, b + done, piece);
      done += piece;
    }
    offset_ += n;
  }
  template <class T>
  void value(T v) {
    bytes(&v, sizeof v);
  }
  uint32_t crc() const { return static_cast<uint32_t>(crc_); }

 private:
  std::FILE* file_;
  const std::string& path_;
  uint64_t offset_ = 0;
  uLong crc_ = ::crc32(0L, Z_NULL, 0);
};

/// Bounds-checked reader over the loaded file; every failure names the offset.
class CheckpointReader {
 public:
  CheckpointReader(const std::vector<uint8_t>& buf, size_t end, const std::string& path)
      : buf_(buf), end_(end), path_(path) {}

  [[noreturn]] void fail(size_t offset, const std::string& what) const {
    throw FileError("checkpoint '" + path_ + "', byte offset " + std::to_string(offset) + ": " + what);
  }
  /// Returns a pointer to the next n bytes of `what` and advances past them.
  const uint8_t* take(size_t n, const std::string& what) {
    if (n > end_ - pos_)
      fail(pos_, "truncated or corrupt: reading " + what + " needs " + std::to_string(n) + " bytes but only " +
                     std::to_string(end_ - pos_) + " remain" + (end_ < buf_.size() ? " before the checksum" : "") +
                     " (file size " + std::to_string(buf_.size()) + " bytes)");
    const uint8_t* p = buf_.data() + pos_;
    pos_ += n;
    return p;
  }
  template <class T>
  T value(const std::string& what) {
    T v;
    std::memcpy(&v, take(sizeof v, what), sizeof v);
    return v;
  }
  size_t pos() const { return pos_; }

 private:
  const std::vector<uint8_t>& buf_;
  size_t end_;
  const std::string& path_;
  size_t pos_ = 0;
};

}  // namespace detail

inline void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  // Validate before creating anything on disk.
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < ckpt.tensors.size(); ++i) {
    const auto& [name, t] = ckpt.tensors[i];
    if (!t.defined()) throw Error("save_checkpoint: tensor '" + name + "' is undefined");
    if (t.rank() > 255) throw Error("save_checkpoint: tensor '" + name + "' has rank above 255");
    if (!seen.emplace(name, i).second) throw Error("save_checkpoint: tensor name '" + name + "' appears twice");
  }
  const std::string meta = ckpt.meta.dump();
  if (meta.size() > std::numeric_limits<uint32_t>::max())
    throw Error("save_checkpoint: metadata exceeds 4 GiB when serialised");

  AtomicFile file(path);  // removes the temp file on any failure below
  const std::string tmp = file.temp_path().string();
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    const int err = errno;
    throw FileError("checkpoint '" + path + "': cannot create temporary file '" + tmp + "': " + std::strerror(err));
  }
  try {
    detail::CheckpointWriter w(f, tmp);
    w.bytes(kCheckpointMagic, sizeof kCheckpointMagic);
    w.value<uint32_t>(kCheckpointVersion);
    w.value<uint32_t>(static_cast<uint32_t>(meta.size()));
    w.bytes(meta.data(), meta.size());
    w.value<uint32_t>(static_cast<uint32_t>(ckpt.tensors.size()));
    for (const auto& [name, t] : ckpt.tensors) {
      w.value<uint32_t>(static_cast<uint32_t>(name.size()));
      w.bytes(name.data(), name.size());
      w.value<uint8_t>(static_cast<uint8_t>(t.dtype()));
      w.value<uint8_t>(static_cast<uint8_t>(t.rank()));
      for (int64_t d : t.shape()) w.value<int64_t>(d);
      const Tensor plain = t.to_plain();
      w.bytes(plain.raw_data(), static_cast<size_t>(plain.numel()) * 4);  // f32 or i32 bytes
    }
    w.value<uint32_t>(w.crc());
    if (std::fflush(f) != 0) {
      const int err = errno;
      throw FileError("checkpoint '" + path + "': flushing '" + tmp + "' failed: " + std::strerror(err));
    }
    const int closed = std::fclose(f);
    f = nullptr;
    if (closed != 0) {
      const int err = errno;
      throw FileError("checkpoint '" + path + "': closing '" + tmp + "' failed: " + std::strerror(err));
    }
    file.commit(/*durable=*/true);
  } catch (const FileError&) {
    if (f) std::fclose(f);
    throw;
  } catch (const std::exception& e) {  // e.g. bad_alloc converting a blocked tensor
    if (f) std::fclose(f);
    throw FileError("checkpoint '" + path + "': writing failed: " + e.what());
  }
}

namespace detail {

/// The whole file; FileError naming `path` when it cannot be opened or read.
inline std::vector<uint8_t> read_checkpoint_file(const std::string& path) {
  std::vector<uint8_t> buf;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    const int err = errno;
    throw FileError("checkpoint '" + path + "', byte offset 0: cannot open: " + std::strerror(err));
  }
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + got);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed)
    throw FileError("checkpoint '" + path + "', byte offset " + std::to_string(buf.size()) +
                    ": read error: " + std::strerror(err));
  return buf;
}

inline constexpr size_t kCheckpointCrcBytes = 4;

/// Checks the magic and the version, then that a checksum follows; returns the header's size.
/// These come first so that a file of another kind or a newer version says so, rather than
/// reporting a checksum or length error further on.
inline size_t check_checkpoint_header(const std::vector<uint8_t>& buf, const std::string& path) {
  CheckpointReader header(buf, buf.size(), path);
  const uint8_t* magic = header.take(sizeof kCheckpointMagic, "the magic number");
  if (std::memcmp(magic, kCheckpointMagic, sizeof kCheckpointMagic) != 0)
    header.fail(0, "bad magic: not an hwaware checkpoint (expected \"HWAWCKPT\")");
  const uint32_t version = header.value<uint32_t>("the format version");
  if (version != kCheckpointVersion)
    header.fail(8, "unsupported format version " + std::to_string(version) + "; this build reads version " +
                       std::to_string(kCheckpointVersion));
  if (buf.size() < header.pos() + kCheckpointCrcBytes)
    header.fail(buf.size(), "truncated: the file ends before the checksum");
  return header.pos();
}

/// Reads tensor `i` (name, dtype, rank, dims, data). Dims are bounded so that their product stays
/// within `file_size`: a corrupt dim cannot request a huge buffer.
inline std::pair<std::string, Tensor> read_checkpoint_tensor(CheckpointReader& r, uint32_t i, size_t file_size) {
  const std::string which = "tensor " + std::to_string(i);
  const uint32_t name_len = r.value<uint32_t>("the name length of " + which);
  const uint8_t* name_bytes = r.take(name_len, "the name of " + which);
  std::string name(reinterpret_cast<const char*>(name_bytes), name_len);
  const std::string what = which + " '" + name + "'";
  const size_t dtype_at = r.pos();
  const uint8_t dtype = r.value<uint8_t>("the dtype of " + what);
  if (dtype > static_cast<uint8_t>(DType::i32))
    r.fail(dtype_at, "invalid dtype code " + std::to_string(dtype) + " for " + what);
  const uint8_t rank = r.value<uint8_t>("the rank of " + what);
  Shape shape(rank);
  uint64_t numel = 1;
  for (uint8_t d = 0; d < rank; ++d) {
    const size_t dim_at = r.pos();
    shape[d] = r.value<int64_t>("the dims of " + what);
    if (shape[d] < 0 || (shape[d] > 0 && numel > file_size / static_cast<uint64_t>(shape[d])))
      r.fail(dim_at, "invalid dim " + std::to_string(shape[d]) + " of " + what + " (corrupt header?)");
    numel *= static_cast<uint64_t>(shape[d]);
  }
  const uint8_t* data = r.take(numel * 4, "the data of " + what + " " + shape_str(shape));
  Tensor t = Tensor::empty(shape, Layout::plain, static_cast<DType>(dtype));
  std::memcpy(t.raw_data(), data, numel * 4);  // f32 or i32 bytes
  return {std::move(name), std::move(t)};
}

/// Compares the stored CRC-32 (at `end`) with that of the bytes before it.
inline void check_checkpoint_crc(const std::vector<uint8_t>& buf, const CheckpointReader& r, size_t end) {
  uint32_t stored = 0;
  std::memcpy(&stored, buf.data() + end, kCheckpointCrcBytes);
  uLong computed = ::crc32(0L, Z_NULL, 0);
  for (size_t done = 0; done < end;) {  // zlib's crc32 takes a uInt length
    const uInt piece = static_cast<uInt>(std::min<size_t>(end - done, 1u << 30));
    computed = ::crc32(computed, buf.data() + done, piece);
    done += piece;
  }
  if (stored != static_cast<uint32_t>(computed))
    r.fail(end, "checksum mismatch: file is corrupt (stored CRC-32 " + checkpoint_hex32(stored) + ", computed " +
                    checkpoint_hex32(static_cast<uint32_t>(computed)) + ")");
}

}  // namespace detail

inline Checkpoint load_checkpoint(const std::string& path) {
  const std::vector<uint8_t> buf = detail::read_checkpoint_file(path);
  const size_t header_bytes = detail::check_checkpoint_header(buf, path);
  // Everything below is parsed within [12, size - 4), so a truncated file fails on the first field
  // that no longer fits, naming where it starts.
  const size_t end = buf.size() - detail::kCheckpointCrcBytes;
  detail::CheckpointReader r(buf, end, path);
  r.take(header_bytes, "the header");
  const size_t meta_at = r.pos();
  const uint32_t meta_len = r.value<uint32_t>("the metadata length");
  const uint8_t* meta_bytes = r.take(meta_len, "the metadata");

  Checkpoint ckpt;
  const uint32_t count = r.value<uint32_t>("the tensor count");
  for (uint32_t i = 0; i < count; ++i) ckpt.tensors.push_back(detail::read_checkpoint_tensor(r, i, buf.size()));
  if (r.pos() != end)
    r.fail(r.pos(), std::to_string(end - r.pos()) + " unexpected bytes after the last tensor, before the checksum");
  detail::check_checkpoint_crc(buf, r, r.pos());

  // Parsed only after the checksum passed, so a flipped byte in the JSON reads as corruption.
  try {
    ckpt.meta = nlohmann::json::parse(meta_bytes, meta_bytes + meta_len);
  } catch (const nlohmann::json::exception& e) {
    r.fail(meta_at + 4, std::string("metadata is not valid JSON: ") + e.what());
  }
  return ckpt;
}

inline void restore_into(const Checkpoint& ckpt, std::vector<std::pair<std::string, Tensor*>> targets) {
  std::unordered_map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : ckpt.tensors) by_name.emplace(name, &t);
  for (auto& [name, target] : targets) {
    auto it = by_name.find(name);
    if (it == by_name.end()) throw Error("restore_into: the checkpoint has no tensor '" + name + "'");
    if (!target || !target->defined()) throw Error("restore_into: target for '" + name + "' is not a defined tensor");
    const Tensor& src = *it->second;
    if (src.dtype() != target->dtype())
      throw Error("checkpoint tensor '" + name + "' has dtype " + detail::checkpoint_dtype_name(src.dtype()) +
                  " but the model expects " + detail::checkpoint_dtype_name(target->dtype()));
    if (src.shape() != target->shape())
      throw Error("checkpoint tensor '" + name + "' has shape " + shape_str(src.shape()) +
                  " but the model expects " + shape_str(target->shape()));
    if (target->layout() == Layout::plain) {
      // memmove: a checkpoint assembled from the model's own tensors shares their storage.
      std::memmove(target->raw_data(), src.to_plain().raw_data(), static_cast<size_t>(src.numel()) * 4);
    } else {
      // Blocked targets get the same layout, zero channel padding included.
      const Tensor converted = src.to_layout(target->layout());
      std::memcpy(target->raw_data(), converted.raw_data(), static_cast<size_t>(converted.storage_elems()) * 4);
    }
    target->bump_version();
  }
}

}  // namespace hwaware
