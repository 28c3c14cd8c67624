#pragma once
// Errors raised by hwaware: every message names what was wrong (the op and the shapes, the file
// and the byte offset), so a user can fix the input without reading the library.
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hwaware {

/// Base of every exception hwaware throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An op received operands whose shapes do not fit together.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A tensor was read in a way its memory layout or element type does not allow (a oneDNN
/// activation read as plain NCHW, int32 labels read as floats); the message names the reader,
/// the layout and the shape.
class LayoutError : public Error {
 public:
  using Error::Error;
};

/// A budget no allowed network can meet (the message gives the achievable minimum); raised
/// before any training.
class InfeasibleBudget : public Error {
 public:
  using Error::Error;
};

/// A file could not be read or is malformed (message names the file and the byte offset).
class FileError : public Error {
 public:
  using Error::Error;
};

/// Training produced a non-finite loss.
class DivergenceError : public Error {
 public:
  using Error::Error;
};

/// Formats a shape as "[2, 3, 28, 28]".
inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

/// Throws ShapeError "<op>: <what> (got <a> and <b>)" when `ok` is false. The names are views, so
/// a passing check (every op, every call) builds no strings.
inline void check_shapes(bool ok, std::string_view op, std::string_view what, const std::vector<int64_t>& a,
                         const std::vector<int64_t>& b = {}) {
  if (ok) return;
  std::string msg = std::string(op) + ": " + std::string(what) + " (got " + shape_str(a);
  if (!b.empty()) msg += " and " + shape_str(b);
  throw ShapeError(msg + ")");
}

}  // namespace hwaware
