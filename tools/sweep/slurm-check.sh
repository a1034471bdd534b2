#!/usr/bin/env bash
# The sweep on a real local Slurm (docs/RESULTS.md): the 45-job sweep as one array; then again
# with half its tasks cancelled before they start and the array re-submitted. Both merged JSONs
# are compared with a sequential run's, byte for byte.
#
#   tools/sweep/slurm-check.sh [SWEEP.yaml] [OUT]   (defaults: docs/recipes/sweep-lenet300.yaml .build/sweep-slurm)
set -euo pipefail
cd "$(dirname "$0")/../.."
sweep=${1:-docs/recipes/sweep-lenet300.yaml}
out=${2:-.build/sweep-slurm}
prune=$(cd "$(dirname "${PRUNE:-.build/release/prune}")" && pwd)/$(basename "${PRUNE:-.build/release/prune}")
export PRUNE_GEMM=${PRUNE_GEMM:-packed-6x16}

rm -rf "$out" && mkdir -p "$out" && out=$(cd "$out" && pwd)
tools/slurm/local-slurm.sh start "$out/slurm" >/dev/null
trap 'tools/slurm/local-slurm.sh stop "$out/slurm"' EXIT
export SLURM_CONF=$out/slurm/slurm.conf

for name in sequential whole cancelled; do "$prune" sweep plan "$sweep" --out "$out/$name" --store "$out/store" >/dev/null; done
jobs=$(ls "$out/whole/jobs" | wc -l)
"$prune" sweep run "$out/sequential" --quiet
"$prune" sweep merge "$out/sequential" --json > "$out/sequential.json"

"$prune" sweep launcher "$out/whole" slurm > "$out/whole.sbatch"
start=$(date +%s.%N)
sbatch --wait --quiet "$out/whole.sbatch"
printf 'one array of %s tasks: %.1f s; ' "$jobs" "$(echo "$(date +%s.%N) - $start" | bc)"
"$prune" sweep merge "$out/whole" --json > "$out/whole.json" && "$prune" sweep status "$out/whole"

"$prune" sweep launcher "$out/cancelled" slurm > "$out/cancelled.sbatch"
id=$(sbatch --hold --parsable "$out/cancelled.sbatch")
scancel "${id}_[$((jobs / 2))-$((jobs - 1))]"
scontrol release "$id"
while [ -n "$(squeue -h -j "$id")" ]; do sleep 1; done
printf 'after scancel of tasks %s-%s: ' "$((jobs / 2))" "$((jobs - 1))"; "$prune" sweep status "$out/cancelled"
sbatch --wait --quiet "$out/cancelled.sbatch"
printf 're-submitted: '; "$prune" sweep status "$out/cancelled"
"$prune" sweep merge "$out/cancelled" --json > "$out/cancelled.json"
"$prune" sweep merge "$out/cancelled" > "$out/cancelled.txt"
for name in whole cancelled; do
  printf '%s: merged JSON %s the sequential run'"'"'s (md5 %s)\n' "$name" \
    "$(cmp -s "$out/$name.json" "$out/sequential.json" && echo equals || echo DIFFERS_FROM)" "$(md5sum < "$out/$name.json" | cut -c1-12)"
done
