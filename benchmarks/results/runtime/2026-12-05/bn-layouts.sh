#!/usr/bin/env bash
# bn-layouts.cpp built against the system oneDNN and run at the shapes of resnet-8 x0.9 / ResNet-20
# x0.46 batch norms (batch 128) on 2 threads, then the 14-channel one on 1 thread.
#   ./bn-layouts.sh   (writes bn-layouts.txt)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exe=$(mktemp)
g++ -O2 -std=c++17 -fopenmp bn-layouts.cpp -ldnnl -o "$exe"
export OMP_WAIT_POLICY=passive
{
  grep -m1 "model name" /proc/cpuinfo
  for shape in "14 28" "29 14" "58 7" "14 32" "29 16" "58 16" "32 16"; do OMP_NUM_THREADS=2 "$exe" $shape; done
  echo "one thread:"
  OMP_NUM_THREADS=1 "$exe" 14 32
} > bn-layouts.txt.tmp
mv bn-layouts.txt.tmp bn-layouts.txt
rm -f "$exe"
echo finished
