#!/usr/bin/env bash
# Training time of resnet-8 on Fashion-MNIST at widths whose channels are multiples of 8 (1.0,
# 0.5) and not (0.9, 0.45: 14/29/58 and 7/14/29 channels), this build's train_fashion against
# another build's (OLD: df33116's, before batch normalisation's generic nhwc backward ran on one
# thread), one epoch of 10000 images at 2 threads, three rounds alternating; the ratio is the figure.
#   OLD=/path/to/old/train_fashion BIN=/path/to/build ./odd-width-training.sh OUT.txt
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
BIN=$(realpath "${BIN:-../../../../build}")
out=$1
[[ -s $out ]] && { echo "finished (kept $out)"; exit 0; }
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
grep -m1 "model name" /proc/cpuinfo > "$out.tmp"
for r in 1 2 3; do
  for w in 1.0 0.9 0.5 0.45; do
    for v in old new; do
      exe=$BIN/examples/train_fashion
      [[ $v == old ]] && exe=$OLD
      s=$( { /usr/bin/time -f "%e" "$exe" --model resnet-8 --width $w --epochs 1 --train-limit 10000 --quiet > /dev/null; } 2>&1 | tail -1)
      echo "$r $v width $w: $s s" >> "$out.tmp"
    done
  done
done
mv "$out.tmp" "$out"
echo finished
