#pragma once
// Checks of a tool's arguments, made before any work so that a bad flag costs nothing.
#include <charconv>
#include <string>

#include "hwaware/core/error.hpp"

namespace hwaware {

/// Throws Error "<flag> must be <range> (got <value>)" unless `ok`. Written as a comparison, `ok`
/// is false for NaN, so a NaN is refused with the rest.
template <class T>
void require_arg(bool ok, const std::string& flag, const std::string& range, T value) {
  if (ok) return;
  char b[64];
  const auto end = std::to_chars(b, b + sizeof b, value).ptr;
  throw Error(flag + " must be " + range + " (got " + std::string(b, end) + ")");
}

/// Runs `check` (a parser or lookup that throws Error for a bad value) and rethrows its Error
/// with `flag` in front, so the message names the argument that was wrong.
template <class F>
void check_arg(const std::string& flag, F&& check) {
  try {
    check();
  } catch (const Error& e) {
    throw Error(flag + ": " + e.what());
  }
}

}  // namespace hwaware
