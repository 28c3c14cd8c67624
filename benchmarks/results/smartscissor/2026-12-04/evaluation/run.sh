#!/usr/bin/env bash
# SmartScissor's evaluation on Cluttered Fashion-MNIST: 10000 training images, the whole 10000-image
# cluttered test set (a standard error of ~0.45 points), 64 px canvas, ResNet-20 ×0.5, 5 epochs per
# network. The Grad-CAM threshold the box predictor learns is chosen on training images (--t auto,
# the seed's Table I sweep); DIC crops each box's square grown 1.2x about its centre (--crop-margin).
# Rows: the three MACs budgets (70/45/30% of the base network, the box predictor counted) and one
# latency budget (60% of the base network as measured on this CPU, the box predictor and the crop
# counted; at 45% DIC's own 0.039 ms left depth, width and compound shrinking no feasible network
# here), each for DIC + compound shrinking, DIC + each single
# dimension, DIC + EfficientNet's rule and resize-only; every network measured on this CPU.
# Every network of the budget stage (fit points, anchor and rows) is trained from three seeds
# (--repeats 3) and reported by its mean: the policies' gaps are about one training's noise.
# one-training/ keeps the same evaluation with one training per network.
# Keep the machine otherwise idle: the latency rows are chosen and judged on it.
# Resumable: choices and the accuracy of every budget-row and fit network stay in models/ (their
# checkpoints too, not in git; the base network, box predictor and 32 px pair retrain without them).
#   EX=/path/to/smartscissor_cluttered ./run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EX=${EX:-../../../../../build/examples/smartscissor_cluttered}
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
"$EX" --dic-train-boxes gradcam --train 10000 --test 10000 --epochs 5 --box-epochs 10 --t auto --crop-margin 1.2 --out-dir models --quiet --json --repeats 3 \
  --budget-macs-fraction 0.7,0.45,0.3 --budget-latency-fraction 0.6 > evaluation.json 2> evaluation.log
echo finished
