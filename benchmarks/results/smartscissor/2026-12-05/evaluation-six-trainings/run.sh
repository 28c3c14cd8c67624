#!/usr/bin/env bash
# The 2026-12-05 evaluation (../evaluation: its settings, and its out-dir's choices, checkpoints
# and accuracies copied in, so its three trainings per network stand) carried to six trainings per
# network (--repeats 6: the curves refit to the means of six, compound shrinking chooses anew
# where they moved): evaluation.json. Then, into extended.json, the MACs budgets again with two
# things more: a fourth budget, 15%, where resolution alone reaches 26 px (the items are 17-34 px
# on the canvas), and depth, width and EfficientNet's rule on the whole canvas without a crop
# (canvas+ rows). Keep the machine otherwise idle: the latency rows are chosen and judged on it
# (a rerun re-measures every row: remove a .json to have its rows measured again).
# Resumable: finished trainings are kept in models/ (evaluation.first-process.log: a first process
# of the first step, stopped in its fit stage; its trainings stand).
#   EX=/path/to/smartscissor_cluttered ./run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
EX=${EX:-../../../../../build/examples/smartscissor_cluttered}
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
if [[ ! -d models ]]; then
  rm -rf models.copy && cp -r ../evaluation/models models.copy && mv models.copy models
fi
run() {
  local out=$1
  shift
  [[ -s $out.json ]] && return 0
  "$EX" --dic-train-boxes predicted --train 10000 --test 10000 --epochs 5 --box-epochs 10 --t auto --crop-margin 1.2 \
    --out-dir models --quiet --json --repeats 6 "$@" > "$out.json.tmp" 2> "$out.log"
  mv "$out.json.tmp" "$out.json"
  ../evaluation/table.py "$out.json" > "$out.md"
}
run evaluation --budget-macs-fraction 0.7,0.45,0.3 --budget-latency-fraction 0.6
run extended --budget-macs-fraction 0.7,0.45,0.3,0.15 \
  --baselines dic+depth,dic+width,dic+resolution,dic+efficientnet,resize-only,canvas+depth,canvas+width,canvas+efficientnet
echo finished
