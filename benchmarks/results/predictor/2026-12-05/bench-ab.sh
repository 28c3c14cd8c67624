#!/usr/bin/env bash
# bench_predictor of this build against another build's (OLD: 128304b's for
# bench-ab-category-check.txt, whose batches checked a row's category inside the per-row bucket
# lookup), on one thread, five rounds alternating, so a loaded machine slows both alike; the
# ratio is the figure.
#   OLD=/path/to/old/bench_predictor BIN=/path/to/build ./bench-ab.sh OUT.txt
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
BIN=$(realpath "${BIN:-../../../../build}")
out=$1
[[ -s $out ]] && { echo "finished (kept $out)"; exit 0; }
export OMP_NUM_THREADS=1
grep -m1 "model name" /proc/cpuinfo > "$out.tmp"
for r in 1 2 3 4 5; do
  for v in old new; do
    exe=$BIN/benchmarks/bench_predictor
    [[ $v == old ]] && exe=$OLD
    "$exe" --benchmark_filter='BM_(mlp|kernel_mlp)_predict_batch$' --benchmark_min_time=2 2>/dev/null |
      awk -v v=$v -v r=$r '/^BM_/ { for (i = 1; i <= NF; ++i) if ($i ~ /^items_per_second=/) { sub("items_per_second=", "", $i); print r, v, $1, $i } }' >> "$out.tmp"
  done
done
mv "$out.tmp" "$out"
echo finished
