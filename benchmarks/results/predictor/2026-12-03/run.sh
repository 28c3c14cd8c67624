#!/usr/bin/env bash
# The latency predictor with the README's two commands (defaults, no tuning flags) on three fresh
# data sets (seeds 1-3), then the narrow per-layer widths ZeroBN produces, then bench_predictor.
# Resumable: a seed whose fit is written is skipped.   BIN=/path/to/build ./run.sh DIR [profile flags]
# (SEEDS="4 5 6" measures other fresh data sets.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
BIN=$(realpath "${BIN:-../../../../build}")
mkdir -p "$1" && cd "$1" && shift
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
grep -m1 "model name" /proc/cpuinfo > host.txt
for s in ${SEEDS:-1 2 3}; do
  if [[ ! -s fit$s.json ]]; then
    "$BIN/examples/profile_device" --out latency$s.jsonl --seed "$s" "$@" --json > profile$s.json 2>> profile$s.log
    "$BIN/examples/fit_predictor" --data latency$s.jsonl --seed "$s" --out-dir predictors$s \
      --plot predicted_vs_measured$s --json > fit$s.json.tmp 2>> fit$s.log
    mv fit$s.json.tmp fit$s.json
  fi
done
if [[ ! -s widths.txt ]]; then
  for m in layer kernel; do
    "$BIN/examples/profile_device" --widths resnet-8 16,16,16,32,32,64,64 8,8,8,16,16,32,32 \
      4,4,4,8,8,16,16 4,4,4,4,4,4,4 8,8,8,8,8,8,8 --sessions 5 --predictor-cache cache-$m --mlp $m \
      --networks 200 >> widths.txt.tmp 2>> widths.log
  done
  mv widths.txt.tmp widths.txt
fi
[[ -s bench.txt ]] || OMP_NUM_THREADS=1 "$BIN/benchmarks/bench_predictor" > bench.txt 2>&1
echo finished
