#!/usr/bin/env bash
# SmartScissor's evaluation on Cluttered Fashion-MNIST: 10000 training images, the whole 10000-image
# cluttered test set (a standard error of ~0.45 points), 64 px canvas, ResNet-20 ×0.5, 5 epochs per
# network. The Grad-CAM threshold the box predictor learns is chosen on training images (--t auto,
# the seed's Table I sweep). Rows: the three MACs budgets (70/45/30% of the base network, the box
# predictor counted) and one latency budget (45% of the base network as measured on this CPU, the
# box predictor and the crop counted), each for DIC + compound shrinking, DIC + each single
# dimension, DIC + EfficientNet's rule and resize-only; every network measured on this CPU.
# Keep the machine otherwise idle: the latency rows are chosen and judged on it.
# Resumable: trained networks and choices stay in models/ and are reused.
#   EX=/path/to/smartscissor_cluttered ./run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EX=${EX:-../../../../../build/examples/smartscissor_cluttered}
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
"$EX" --dic-train-boxes gradcam --crop-margin 1.0 --train 10000 --test 10000 --epochs 5 --box-epochs 10 --t auto --out-dir models --quiet --json \
  --budget-macs-fraction 0.7,0.45,0.3 --budget-latency-fraction 0.45 > evaluation.json 2> evaluation.log
echo finished
