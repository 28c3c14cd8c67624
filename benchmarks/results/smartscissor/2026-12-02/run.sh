#!/usr/bin/env bash
# SmartScissor on Cluttered Fashion-MNIST (10000 training, 2000 test images, 64 px canvas,
# ResNet-20 ×0.5, 5 epochs per network): stages 1-4 (base, Grad-CAM IoU per t, box predictor,
# DIC vs resize-only at 32 px), then the MACs budgets. Resumable: every trained network is kept in
# $OUT and reused. EX=/path/to/smartscissor_cluttered OUT=/path/to/models ./run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EX=${EX:-../../../../build/examples/smartscissor_cluttered}
OUT=${OUT:-models}
export OMP_NUM_THREADS=2
"$EX" --dic-train-boxes gradcam --crop-margin 1.0 --train 10000 --test 2000 --epochs 5 --box-epochs 10 --out-dir "$OUT" --quiet --json \
  > dic-vs-resize.json 2> dic-vs-resize.log
"$EX" --dic-train-boxes gradcam --crop-margin 1.0 --train 10000 --test 2000 --epochs 5 --box-epochs 10 --out-dir "$OUT" --quiet --json \
  --budgets 0.7,0.45,0.3 > budgets.json 2> budgets.log
echo finished
