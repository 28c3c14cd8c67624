#!/bin/sh
# A fake device for CommandDevice's tests: reads the network description CommandDevice exported
# ($1) and prints a latency that is a deterministic function of it,
#   latency_ms = (sum of "macs" over the layers) * 1e-6 + 0.01 * (number of layers),
# using only POSIX sh and awk so it runs on any machine.
# FAKE_DEVICE_FAIL=1 makes it fail like a broken board: a message on stderr and exit status 3.
set -u

if [ "${FAKE_DEVICE_FAIL:-0}" = "1" ]; then
  echo "fake_device: simulated failure (FAKE_DEVICE_FAIL=1)" >&2
  exit 3
fi
if [ $# -lt 1 ] || [ ! -r "$1" ]; then
  echo "fake_device: usage: fake_device.sh <description.json> (got '${1:-}')" >&2
  exit 2
fi

# Every layer object carries exactly one "macs" key; the file may span several lines.
awk '
  { text = text $0 " " }
  END {
    n = 0; sum = 0
    while (match(text, /"macs"[ \t]*:[ \t]*[0-9]+/)) {
      item = substr(text, RSTART, RLENGTH)
      sub(/^"macs"[ \t]*:[ \t]*/, "", item)
      sum += item; n++
      text = substr(text, RSTART + RLENGTH)
    }
    if (n == 0) { print "fake_device: no layers with \"macs\" in the description" > "/dev/stderr"; exit 4 }
    printf "fake_device: %d layers, %.0f MACs\n", n, sum
    printf "latency_ms: %.9f\n", sum * 1e-6 + 0.01 * n
  }
' "$1"
