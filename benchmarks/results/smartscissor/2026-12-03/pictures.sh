#!/usr/bin/env bash
# The pictures of the 2026-12-02 run, drawn from its trained networks (base classifier, box
# predictor) without training anything: gradcam_boxes.png, the first 12 cluttered test images with
# the base network's Grad-CAM heat, its box at t = 0.5 (cyan), the box predictor's (red) and the
# true box (green); and accuracy_model.svg/.png, the fitted accuracy curves of the budget run with
# their fit points (the seed's Fig. 8; the budget stage evaluates its cached networks again, so
# budgets.json here repeats that run's figures). Needs ../2026-12-02/models from that run.sh.
#   EX=/path/to/smartscissor_cluttered ./pictures.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EX=${EX:-../../../../build/examples/smartscissor_cluttered}
export OMP_NUM_THREADS=2
"$EX" --dic-train-boxes gradcam --crop-margin 1.0 --train 10000 --test 2000 --epochs 5 --box-epochs 10 --out-dir ../2026-12-02/models --quiet \
  --pictures 12 --pictures-only
cp ../2026-12-02/models/gradcam_boxes.png .
"$EX" --dic-train-boxes gradcam --crop-margin 1.0 --train 10000 --test 2000 --epochs 5 --box-epochs 10 --out-dir ../2026-12-02/models --quiet --json \
  --pictures 0 --budgets 0.7,0.45,0.3 > budgets.json 2> budgets.log
cp ../2026-12-02/models/accuracy_model.{svg,png} .
