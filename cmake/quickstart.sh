#!/usr/bin/env bash
# Install what hwaware needs (Debian packages), build it, then run a demo, the tests or the
# benchmarks.   usage: ./cmake/quickstart.sh demo|test|bench [extra args for the demo]
set -euo pipefail

usage() { echo "usage: $0 demo|test|bench [args...]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
command=$1
shift
case "$command" in demo|test|bench) ;; *) usage ;; esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

# ---- 1. Debian packages -----------------------------------------------------------------------
packages=(libdnnl-dev ocl-icd-opencl-dev libeigen3-dev xtensor-dev libbenchmark-dev doctest-dev
          zlib1g-dev dataset-fashion-mnist cmake g++ libcli11-dev nlohmann-json3-dev
          gnuplot-nox libonnx-dev libprotobuf-dev)
if [[ $command == bench ]]; then
  packages+=(python3-torch libopenblas0-pthread)   # the PyTorch peer baseline
fi
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "quickstart: all packages present"
else
  echo "quickstart: installing ${missing[*]}"
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
      sudo=(sudo)
    else
      echo "quickstart: not root and no sudo; install these first: ${missing[*]}" >&2
      exit 1
    fi
  fi
  # Refresh the index only if a package is unknown to it.
  for p in "${missing[@]}"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then
      "${sudo[@]}" apt-get update
      break
    fi
  done
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
fi

# ---- 1b. ONNX Runtime for the ONNX export test (npm's onnxruntime-node, CPU) -------------------
# Optional: without npm the test says it skipped the runtime comparison. --ignore-scripts: the
# package ships its CPU binaries; its install script only fetches GPU ones.
if [[ -d tools/onnxruntime/node_modules/onnxruntime-node ]]; then
  echo "quickstart: onnxruntime-node present"
elif command -v npm >/dev/null; then
  echo "quickstart: installing onnxruntime-node in tools/onnxruntime"
  (cd tools/onnxruntime && npm ci --ignore-scripts --no-audit --no-fund) ||
    echo "quickstart: npm could not install onnxruntime-node; the ONNX Runtime comparison will be skipped" >&2
else
  echo "quickstart: no npm; the ONNX export test will skip its ONNX Runtime comparison (apt-get install npm)"
fi

# ---- 2. build ---------------------------------------------------------------------------------
cmake --preset release
cmake --build --preset release -j "$(nproc)"

# ---- 3. run -----------------------------------------------------------------------------------
case "$command" in
  demo)
    if [[ -x build/examples/zerobn_fashion ]]; then
      exec build/examples/zerobn_fashion "$@"
    elif [[ -x build/examples/train_fashion ]]; then
      exec build/examples/train_fashion --model ref-cnn --epochs 3 "$@"
    else
      echo "quickstart: no demo built (build/examples/zerobn_fashion or train_fashion)" >&2
      exit 1
    fi
    ;;
  test)
    ctest --preset release --output-on-failure
    ;;
  bench)
    shopt -s nullglob
    ran=0
    for b in build/benchmarks/bench_*; do
      [[ -f $b && -x $b ]] || continue
      echo "== $b"
      if [[ $(basename "$b") == bench_peer ]]; then
        "$b"
      else
        "$b" --benchmark_min_time=0.2
      fi
      ran=1
    done
    [[ $ran -eq 1 ]] || echo "quickstart: no benchmarks built in build/benchmarks/"
    ;;
esac
