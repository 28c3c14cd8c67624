#!/usr/bin/env bash
# ZeroBN on resnet-8 at 50% of its measured latency (the regime of 4- to 16-channel stages) with
# the per-kernel and the per-layer MLP as the predictor it bisects against, everything else as the
# resnet-8 rows of 2026-12-03 (6 epochs, all 60k images, layer-wise ranking, 200 profiled networks).
# Resumable: a kind whose JSON is written is skipped.   BIN=/path/to/build ./mlp-kind.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
BIN=$(realpath "${BIN:-../../../../build}")
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
grep -m1 "model name" /proc/cpuinfo > host.txt
for m in kernel layer; do
  [[ -s resnet8-50-$m.json ]] && continue
  "$BIN/examples/zerobn_fashion" --model resnet-8 --budget-fraction 0.5 --epochs 6 --train-limit -1 \
    --ranking layerwise --profile-networks 200 --mlp $m --cache-dir cache-$m --heatmap "" --quiet --json \
    > resnet8-50-$m.json.tmp 2> resnet8-50-$m.log
  mv resnet8-50-$m.json.tmp resnet8-50-$m.json
done
echo finished
