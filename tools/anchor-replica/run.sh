#!/usr/bin/env bash
# Runs the three replica scripts for seeds 1..N (default 10), two at a time, and prints
# the summary. INIT=he|lecun|glorot selects another initialization. Needs python3 with
# numpy and Debian's dataset-fashion-mnist; about 2.5 minutes of one core per seed.
# Usage: tools/anchor-replica/run.sh [N] [OUT_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-10}; out=${2:-/tmp/anchor-replica}
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1
for script in anchor agp neurons; do
    : > "$out/$script.jsonl"
    for s in $(seq 1 "$n"); do
        python3 "$here/$script.py" "$s" >> "$out/$script.jsonl" &
        if (( s % 2 == 0 )); then wait; fi
    done
    wait
done
python3 "$here/summarize.py" "$out"/*.jsonl
