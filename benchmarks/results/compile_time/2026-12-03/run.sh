#!/usr/bin/env bash
# How long the README's ZeroBN program takes to compile: header-only (hwaware::hwaware) against
# linking hwaware::precompiled (HWAWARE_PRECOMPILED: the entry points compiled once), with the
# flags CMake's Release build gives zerobn_readme; then the library's own one-off compile.
# Run from this directory on a quiet machine, with a configured build tree:
#   BUILD=/path/to/build ./run.sh > compile.txt
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
BUILD=${BUILD:-../../../../build}
SRC=$(cd ../../../.. && pwd)
program=$BUILD/examples/zerobn_readme.cpp
flags=(-O3 -DNDEBUG -fopenmp -std=gnu++20 -I"$SRC/include" -isystem /usr/include/eigen3)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
timed() {  # label, then the compiler's arguments
  local label=$1; shift
  /usr/bin/time -f "$label: %e s wall, %U s user" c++ "${flags[@]}" "$@" 2>&1 >/dev/null | tail -1
}
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(c++ --version | head -1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2; do
  timed "round $round, header-only" -c "$program" -o "$out/a.o"
  timed "round $round, precompiled" -DHWAWARE_PRECOMPILED -c "$program" -o "$out/b.o"
done
timed "the library once (src/precompiled.cpp)" -DHWAWARE_PRECOMPILED -DHWAWARE_BUILDING_PRECOMPILED \
  -c "$SRC/src/precompiled.cpp" -o "$out/lib.o"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
