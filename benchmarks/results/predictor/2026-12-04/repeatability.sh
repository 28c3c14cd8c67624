#!/usr/bin/env bash
# The repeatability row: one network's median over 10 fresh processes, the device's robust protocol
# against a naive one (ref-cnn, resnet-8, vgg-small; batch 1, 2 threads), three runs in a row.
#   BIN=/path/to/build ./repeatability.sh OUT.jsonl
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
BIN=$(realpath "${BIN:-../../../../build}")
out=$1
[[ -s $out ]] && { echo "finished (kept $out)"; exit 0; }
export OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive
grep -m1 "model name" /proc/cpuinfo | sed 's/^/# /' > "$out.tmp"
for r in 1 2 3; do
  "$BIN/examples/profile_device" --repeatability --families ref-cnn,resnet-8,vgg-small --json 2>/dev/null | tail -1 >> "$out.tmp"
done
mv "$out.tmp" "$out"
echo finished
