#!/usr/bin/env bash
# The ZeroBN evaluation of 2026-12-01 with retargeted r (the code of commit 53292d6: r retargeted at
# every ZT epoch and every 50 steps, per-epoch measured calibration, drift-corrected measurements,
# plain training interleaved epoch by epoch; the fixed-r rows added in 4cb088e).
# The full-network rows (plain training, accuracy) were kept from the files of ../first-runs/.
set -x
export OMP_NUM_THREADS=2
./build/examples/zerobn_evaluate --models vgg-small --fractions 0.3,0.5,0.7 --epochs 6 --train-limit 20000 --uniform \
  --out vgg.jsonl --table vgg.md --cache-dir cache --quiet
./build/examples/zerobn_evaluate --models resnet-8 --fractions 0.3,0.5,0.6,0.7 --epochs 6 --train-limit -1 --uniform \
  --out resnet8.jsonl --table resnet8.md --cache-dir cache --quiet
./build/examples/zerobn_evaluate --models resnet-8 --fractions 0.6 --epochs 6 --train-limit -1 --ranking latency \
  --out resnet8_latency.jsonl --table resnet8_latency.md --cache-dir cache --quiet
# r fixed per ZT phase (the paper's schedule), to separate retargeting's effect on accuracy:
./build/examples/zerobn_evaluate --models resnet-8 --fractions 0.6,0.7 --epochs 6 --train-limit -1 --retarget-every 0 \
  --out resnet8_fixed_r.jsonl --table resnet8_fixed_r.md --cache-dir cache --quiet
