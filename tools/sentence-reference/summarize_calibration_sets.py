"""Issue #16's calibration-set comparison as a table: PyTorch's reference against Prune.

Usage: python3 summarize_calibration_sets.py [results/calibration-sets.jsonl] [--metric recall_at_10|mean_cosine]

Reads the JSON lines prune_reference.py ("side": "pytorch") and prune_calibration_sets.py
("side": "prune") append, and prints for each method, SparseGPT selection and cut: each side's
figures on calibration sets 0-4, their mean and sample standard deviation, the difference of
the means (Prune - PyTorch), and the paired differences' mean and standard deviation (both
sides ran on the same five sets). Standard library only.
"""

import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default=os.path.join(HERE, "results", "calibration-sets.jsonl"))
    parser.add_argument("--metric", default="recall_at_10", choices=("recall_at_10", "mean_cosine"))
    args = parser.parse_args()
    cells = {}
    for line in open(args.results):
        if not line.strip():
            continue
        row = json.loads(line)
        method = row["method"] + (f" ({row['selection']})" if "selection" in row else "")
        if row.get("inputs") == "dense":   # Prune measuring every layer on the dense model, as the reference does
            method += " (dense inputs)"
        cells.setdefault((method, row["cut"]), {}).setdefault(row["side"], {})[row["calibration_set"]] = row[args.metric]
    # The reference's Wanda takes its inputs from the dense model: it is the other side of both
    # of Prune's Wanda rows.
    for (method, cut), sides in cells.items():
        if method.endswith(" (dense inputs)") and "pytorch" in cells.get((method[:-len(" (dense inputs)")], cut), {}):
            sides.setdefault("pytorch", cells[(method[:-len(" (dense inputs)")], cut)]["pytorch"])

    def sd(values):
        return statistics.stdev(values) if len(values) > 1 else float("nan")

    print(f"{args.metric}; sets listed in order 0, 1, ...; sd is the sample standard deviation")
    print(f"{'method':<26} {'cut':<4} {'side':<8} {'per set':<42} {'mean':>7} {'sd':>7}")
    for (method, cut), sides in sorted(cells.items()):
        for side in ("pytorch", "prune"):
            values = sides.get(side, {})
            if not values:
                continue
            listed = " ".join(f"{values[k]:.4f}" for k in sorted(values))
            v = list(values.values())
            print(f"{method:<26} {cut:<4} {side:<8} {listed:<42} {statistics.mean(v):7.4f} {sd(v):7.4f}")
        a, b = sides.get("pytorch", {}), sides.get("prune", {})
        if a and b:
            common = sorted(set(a) & set(b))
            paired = [b[k] - a[k] for k in common]
            print(f"{'':<26} {'':<4} {'prune - pytorch: difference of means':<51} "
                  f"{statistics.mean(b.values()) - statistics.mean(a.values()):+7.4f}; "
                  f"paired over {len(common)} sets {statistics.mean(paired):+.4f} (sd {sd(paired):.4f})")


if __name__ == "__main__":
    sys.exit(main())
