#!/usr/bin/env bash
# Crash test of `prune run --resume` (dev tooling, not part of the product).
#
# Runs a recipe once uninterrupted, then ROUNDS times: starts it afresh, kills it with
# SIGKILL (kill -9) at a random moment (KILLS times, each resumed run killed again), then
# lets `prune run --resume` finish it, and compares the final model file with the
# uninterrupted run's, byte for byte. It also checks what a kill must leave intact: an
# earlier output file at the output path stays as it was until the run finishes, and the
# run always resumes from a readable checkpoint (or starts afresh when none was written).
#
# Usage: tools/kill-resume.sh [-r ROUNDS] [-k KILLS] [-s SEED] [-b PRUNE] [agp|lottery|RECIPE.yaml]
#   -r ROUNDS  trials (default 20)       -k KILLS  kills per trial (default 1)
#   -s SEED    seed of the kill moments  -b PRUNE  the prune binary (default .build/release/prune)
# The built-in recipes train LeNet-300-100 on the first 6,000 Fashion-MNIST images:
# `agp` (AGP during 3 epochs, then a fine-tuning epoch) and `lottery` (two lottery-ticket
# rounds, each rewinding and retraining). A RECIPE.yaml of your own must have a
# `checkpoint` section or checkpoints come every 1000 steps; its `output` is replaced.
# Prints one line per trial and "N of ROUNDS identical"; exits 1 unless all are.
set -u
rounds=20 kills=1 seed=$$ prune=""
while getopts "r:k:s:b:" option; do
    case $option in
        r) rounds=$OPTARG ;; k) kills=$OPTARG ;; s) seed=$OPTARG ;; b) prune=$OPTARG ;;
        *) sed -n '2,20p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
recipe=${1:-agp}
root=$(cd "$(dirname "$0")/.." && pwd)
prune=${prune:-$root/.build/release/prune}
[ -x "$prune" ] || { echo "no prune at $prune: build it first (swift build -c release)"; exit 2; }
RANDOM=$seed
work=$(mktemp -d /tmp/prune-kill-resume.XXXXXX)
trap 'rm -rf "$work"' EXIT
data=/usr/share/datasets/fashion-mnist

# The first COUNT samples of an IDX file (gzip): header with the new count, then the bytes.
subset() { # source destination count header-bytes sample-bytes
    local n=$3
    {
        gzip -dc "$1" | head -c 4
        printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))"
        gzip -dc "$1" | head -c "$4" | tail -c +9
        gzip -dc "$1" | tail -c +$(($4 + 1)) | head -c $((n * $5))
    } > "$2" 2>/dev/null
}

case $recipe in
    agp|lottery)
        mkdir "$work/data"
        subset $data/train-images-idx3-ubyte.gz "$work/data/train-images-idx3-ubyte" 6000 16 784
        subset $data/train-labels-idx1-ubyte.gz "$work/data/train-labels-idx1-ubyte" 6000 8 1
        subset $data/t10k-images-idx3-ubyte.gz "$work/data/t10k-images-idx3-ubyte" 2000 16 784
        subset $data/t10k-labels-idx1-ubyte.gz "$work/data/t10k-labels-idx1-ubyte" 2000 8 1
        if [ "$recipe" = agp ]; then
            body="model: lenet300
data: $work/data
seed: 3
train: {epochs: 3, batch_size: 100, learning_rate: 0.05}
prune:
  threshold: {sparsity: 0.9}
  schedule: {agp: {start_epoch: 0, end_epoch: 2, every_steps: 10}}
fine_tune: {epochs: 1, learning_rate: 0.01}
checkpoint: {every_steps: 15}"
        else
            body="model: lenet300
data: $work/data
seed: 4
train: {epochs: 2, batch_size: 100, learning_rate: 0.05}
prune:
  threshold: {sparsity: 0.75}
  schedule: {iterative: {fraction: 0.5, rounds: 3, rewind_to_step: 20, fine_tune_epochs: 1, accuracy_budget: 0.5}}
checkpoint: {every_steps: 15}"
        fi ;;
    *)
        [ -f "$recipe" ] || { echo "no recipe $recipe"; exit 2; }
        body=$(grep -v '^output:' "$recipe") ;;
esac
write_recipe() { printf '%s\noutput: %s\n' "$body" "$2" > "$1"; }

write_recipe "$work/reference.yaml" "$work/reference.safetensors"
start=$(date +%s.%N)
"$prune" run "$work/reference.yaml" --quiet > "$work/reference.txt" || { echo "the uninterrupted run failed"; exit 1; }
seconds=$(echo "$(date +%s.%N) - $start" | bc)
echo "uninterrupted run: $seconds s, $(stat -c %s "$work/reference.safetensors") bytes"

identical=0 landed=0 resumed=0
for trial in $(seq 1 "$rounds"); do
    dir="$work/trial$trial"
    mkdir "$dir"
    write_recipe "$dir/r.yaml" "$dir/out.safetensors"
    echo "an earlier output" > "$dir/out.safetensors"   # must survive every kill
    moments=() notes=""
    for k in $(seq 1 "$kills"); do
        # A moment uniform over the first 90% of the run's length (so that the kill lands;
        # the first start includes loading the data).
        moment=$(echo "scale=3; 0.9 * $seconds * $RANDOM / 32768" | bc)
        "$prune" run "$dir/r.yaml" --resume > "$dir/run$k.txt" 2> "$dir/run$k.err" &
        pid=$!
        sleep "$moment"
        kill -9 "$pid" 2>/dev/null && killed=yes || killed=no
        wait "$pid" 2>/dev/null
        status=$?
        moments+=("$moment")
        if [ $killed = no ]; then   # this run ended by itself: its output is the trial's result
            notes+=" (run $k ended by itself)"
            cp "$dir/run$k.txt" "$dir/final.txt"; cp "$dir/run$k.err" "$dir/final.err"
            break
        fi
        landed=$((landed + 1))
        if [ "$(cat "$dir/out.safetensors")" != "an earlier output" ]; then notes+=" EARLIER-OUTPUT-CHANGED"; fi
        [ -f "$dir/out.checkpoint.safetensors" ] && notes+=" [checkpoint]" || notes+=" [no checkpoint yet]"
    done
    leftovers=$(find "$dir" -name '.out.*.tmp-*' | wc -l)
    [ "$leftovers" -gt 0 ] && notes+=" ($leftovers temporary file(s) of an interrupted write)"
    [ -f "$dir/final.txt" ] || { "$prune" run "$dir/r.yaml" --resume > "$dir/final.txt" 2> "$dir/final.err"; status=$?; }
    if [ "$status" != 0 ]; then
        echo "trial $trial: killed at ${moments[*]} s$notes: the resumed run failed: $(cat "$dir/final.err")"
        continue
    fi
    from=$(grep -o 'resuming from .*\|no checkpoint .*' "$dir/final.err" | sed 's|.*: ||; s|starting from the beginning|none, started afresh|')
    grep -q 'resuming from' "$dir/final.err" && resumed=$((resumed + 1))
    if cmp -s "$dir/out.safetensors" "$work/reference.safetensors" \
        && diff <(grep -v '^time:\|^saved' "$dir/final.txt") <(grep -v '^time:\|^saved' "$work/reference.txt") > /dev/null; then
        identical=$((identical + 1))
        echo "trial $trial: killed at ${moments[*]} s$notes; checkpoint resumed: ${from:-?}; identical"
    else
        echo "trial $trial: killed at ${moments[*]} s$notes; checkpoint resumed: ${from:-?}; DIFFERENT"
    fi
done
echo "$identical of $rounds identical ($landed kills landed; $resumed final runs resumed from a checkpoint)"
[ "$identical" = "$rounds" ]
