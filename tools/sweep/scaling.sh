#!/usr/bin/env bash
# The sweep's scaling figure (docs/RESULTS.md, docs/SCALING.md): the same sweep planned twice,
# run by one worker and by W workers at once (xargs -P), timed; the two merged JSONs compared
# byte for byte; the page of curves written.
#
#   tools/sweep/scaling.sh [SWEEP.yaml] [WORKERS] [OUT]   (defaults: docs/recipes/sweep-lenet300.yaml 2 .build/sweep-scaling)
set -euo pipefail
cd "$(dirname "$0")/../.."
sweep=${1:-docs/recipes/sweep-lenet300.yaml}
workers=${2:-2}
out=${3:-.build/sweep-scaling}
prune=${PRUNE:-.build/release/prune}
export PRUNE_GEMM=${PRUNE_GEMM:-packed-6x16}   # the same kernels in every process

rm -rf "$out" && mkdir -p "$out"
"$prune" sweep plan "$sweep" --out "$out/one" >/dev/null
"$prune" sweep plan "$sweep" --out "$out/many" >/dev/null
jobs=$(ls "$out/one/jobs" | wc -l)

start=$(date +%s.%N)
"$prune" sweep run "$out/one" --quiet
one=$(echo "$(date +%s.%N) - $start" | bc)

start=$(date +%s.%N)
seq 0 $((workers - 1)) | xargs -P "$workers" -I{} "$prune" sweep run "$out/many" --shard "{}/$workers" --quiet
many=$(echo "$(date +%s.%N) - $start" | bc)

"$prune" sweep merge "$out/one" --json > "$out/one.json"
"$prune" sweep merge "$out/many" --json --report "$out/curves.html" > "$out/many.json"
"$prune" sweep merge "$out/many" > "$out/table.txt"
same=$(cmp -s "$out/one.json" "$out/many.json" && echo "byte-identical" || echo "DIFFERENT")
printf '%s jobs: 1 worker %.1f s, %s workers %.1f s, ratio %.3f; merged JSON %s (md5 %s)\n' \
  "$jobs" "$one" "$workers" "$many" "$(echo "$many / $one" | bc -l)" "$same" "$(md5sum < "$out/many.json" | cut -c1-12)"
printf 'per job (1 worker): %.2f s; curves: %s\n' "$(echo "$one / $jobs" | bc -l)" "$out/curves.html"
