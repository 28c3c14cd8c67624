#pragma once
// Reader for IDX files, the container of MNIST and Fashion-MNIST. Debian's dataset-fashion-mnist
// ships them gzipped; zlib's gzread passes a raw (uncompressed) file through unchanged, so one code
// path reads both forms.
//
// Layout (all integers big-endian): bytes 0-1 zero, byte 2 the element type (0x08 = unsigned
// byte), byte 3 the number of dimensions d, then d u32 sizes, then the elements in row-major
// order. Fashion-MNIST uses 0x00000803 (images [N, H, W]) and 0x00000801 (labels [N]).
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "hwaware/core/error.hpp"
#include "hwaware/core/tensor.hpp"

namespace hwaware {

/// The contents of an IDX file: the sizes from its header and the elements in row-major order.
/// Guarantees data.size() == numel_of(dims).
struct IdxArray {
  Shape dims;
  std::vector<uint8_t> data;
};

/// Reads the IDX file at `path`, gzipped or raw. Only the unsigned-byte element type (0x08) is
/// accepted: it is the only one (Fashion-)MNIST uses, and callers turn the bytes into pixels or
/// class labels.
/// Throws FileError naming `path`, the byte offset (counted in the decompressed data for a gzipped
/// file) and the fault when: the file is missing or unreadable, the gzip stream is corrupt, the
/// magic number is not 0x00 0x00 0x08 <ndims>, the data ends before the header's dims are filled
/// (truncation), or bytes follow the last element (trailing garbage).
IdxArray read_idx(const std::string& path);

// ---------------------------------------------------------------------------------------------
// Implementation

namespace detail {

inline constexpr uint8_t kIdxUnsignedByte = 0x08;

/// Largest single gzread request: gzread takes an unsigned length but returns an int, and a
/// bounded chunk lets a header that lies about its size fail on truncation instead of on a
/// multi-gigabyte allocation.
inline constexpr size_t kIdxChunkBytes = size_t{1} << 22;

[[noreturn]] inline void throw_idx_error(const std::string& path, uint64_t offset, bool decompressed,
                                         const std::string& what) {
  throw FileError("IDX file '" + path + "', byte offset " + std::to_string(offset) +
                  (decompressed ? " (of the decompressed data)" : "") + ": " + what);
}

inline const char* idx_type_name(uint8_t code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

inline std::string idx_hex32(uint32_t v) {
  static const char* digits = "0123456789ABCDEF";
  std::string s = "0x00000000";
  for (int i = 0; i < 8; ++i) s[9 - i] = digits[(v >> (4 * i)) & 0xF];
  return s;
}

/// An open IDX file with the running offset into its (decompressed) bytes.
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) {
      const int err = errno;
      throw_idx_error(path_, 0, false,
                      std::string("cannot open: ") + (err ? std::strerror(err) : "out of memory in zlib"));
    }
    gzbuffer(file_, 1 << 17);  // zlib's 8 KiB default costs ~10% more time on the 26 MB image file
  }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;
  ~IdxStream() { gzclose(file_); }

  /// Reads up to n bytes; returns fewer only at the end of the data. Throws on read errors and on
  /// corrupt gzip data (a gzip stream cut short counts as the end of the data: the caller then
  /// reports the truncation with its offset).
  size_t read(void* dst, size_t n) {
    size_t got = 0;
    auto* out = static_cast<unsigned char*>(dst);
    while (got < n) {
      const unsigned ask = static_cast<unsigned>(std::min(n - got, kIdxChunkBytes));
      const int r = gzread(file_, out + got, ask);
      if (r < 0) fail_read(offset_ + got);
      got += static_cast<size_t>(r);
      if (static_cast<unsigned>(r) < ask) {
        int code = Z_OK;
        gzerror(file_, &code);
        if (code != Z_OK && code != Z_BUF_ERROR) fail_read(offset_ + got);  // Z_BUF_ERROR: stream ends early
        break;
      }
    }
    offset_ += got;
    return got;
  }

  uint64_t offset() const { return offset_; }
  bool decompressed() { return gzdirect(file_) == 0; }

  [[noreturn]] void fail(uint64_t offset, const std::string& what) {
    throw_idx_error(path_, offset, decompressed(), what);
  }

 private:
  [[noreturn]] void fail_read(uint64_t at) {
    const int err = errno;  // before anything else can overwrite it
    int code = Z_OK;
    const char* msg = gzerror(file_, &code);
    if (code == Z_ERRNO) fail(at, std::string("read error: ") + std::strerror(err));
    std::string why = msg ? msg : "unknown zlib error";
    if (why.rfind(path_ + ": ", 0) == 0) why.erase(0, path_.size() + 2);  // zlib prefixes the path
    fail(at, "corrupt gzip data: " + why);
  }

  std::string path_;
  gzFile file_ = nullptr;
  uint64_t offset_ = 0;
};

}  // namespace detail

inline IdxArray read_idx(const std::string& path) {
  detail::IdxStream in(path);

  unsigned char magic[4];
  const size_t got_magic = in.read(magic, 4);
  if (got_magic == 0) in.fail(0, "the file is empty; expected the 4-byte IDX magic number");
  if (got_magic < 4) in.fail(got_magic, "truncated inside the 4-byte magic number");
  const uint32_t magic_value = uint32_t{magic[0]} << 24 | uint32_t{magic[1]} << 16 | uint32_t{magic[2]} << 8 | magic[3];
  if (magic[0] != 0 || magic[1] != 0)
    in.fail(0, "bad magic number " + detail::idx_hex32(magic_value) +
                   ": not an IDX file (bytes 0-1 must be zero; expected e.g. 0x00000803 for images, "
                   "0x00000801 for labels)");
  if (magic[2] != detail::kIdxUnsignedByte)
    in.fail(2, "bad magic number " + detail::idx_hex32(magic_value) + ": element type 0x" +
                   detail::idx_hex32(magic[2]).substr(8) + " (" + detail::idx_type_name(magic[2]) +
                   ") is not supported; only 0x08 (unsigned byte) is");
  const int ndims = magic[3];
  if (ndims == 0) in.fail(3, "bad magic number " + detail::idx_hex32(magic_value) + ": zero dimensions");

  std::vector<unsigned char> raw_dims(4 * static_cast<size_t>(ndims));
  const size_t got_dims = in.read(raw_dims.data(), raw_dims.size());
  if (got_dims < raw_dims.size())
    in.fail(4 + got_dims, "truncated header: a " + std::to_string(ndims) + "-D IDX header needs " +
                              std::to_string(4 + raw_dims.size()) + " bytes");

  IdxArray out;
  out.dims.resize(ndims);
  uint64_t expected = 1;
  bool overflow = false;
  for (int d = 0; d < ndims; ++d) {
    const unsigned char* b = &raw_dims[4 * d];
    const uint64_t size = uint64_t{b[0]} << 24 | uint64_t{b[1]} << 16 | uint64_t{b[2]} << 8 | b[3];
    out.dims[d] = static_cast<int64_t>(size);
    overflow = overflow || (size != 0 && expected > (uint64_t{1} << 62) / size);
    expected *= size;
  }
  const uint64_t header_bytes = in.offset();
  if (overflow) in.fail(4, "dims " + shape_str(out.dims) + " describe more elements than can be addressed");

  // Grow as data arrives rather than trusting the header up front (see kIdxChunkBytes); the
  // reservation covers the largest Fashion-MNIST file (47 MB) in one go.
  out.data.reserve(static_cast<size_t>(std::min<uint64_t>(expected, uint64_t{1} << 26)));
  while (out.data.size() < expected) {
    const size_t have = out.data.size();
    const size_t want = static_cast<size_t>(std::min<uint64_t>(expected - have, detail::kIdxChunkBytes));
    out.data.resize(have + want);
    const size_t got = in.read(out.data.data() + have, want);
    if (got < want)
      in.fail(in.offset(), "truncated: the data ends after " + std::to_string(have + got) + " of the " +
                               std::to_string(expected) + " element bytes that dims " + shape_str(out.dims) +
                               " promise (expected the file to end at byte offset " +
                               std::to_string(header_bytes + expected) + ")");
  }

  unsigned char extra;
  if (in.read(&extra, 1) != 0)
    in.fail(header_bytes + expected, "trailing data after the last element: dims " + shape_str(out.dims) +
                                         " promise " + std::to_string(header_bytes + expected) +
                                         " bytes in total");
  return out;
}

}  // namespace hwaware
