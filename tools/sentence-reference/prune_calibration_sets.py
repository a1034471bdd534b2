"""Prune's side of issue #16's calibration-set comparison (prune_reference.py is PyTorch's).

Usage: python3 prune_calibration_sets.py --prune PRUNE_BINARY --work DIR [--calib-dir DIR2] [--sets 0,1,2,3,4]
           [--methods wanda,wanda-dense,sparsegpt,sparsegpt-row] [--cuts 0.3,0.5,2:4] [--model DIR]
           [--out results.jsonl]

For each calibration set K it writes DIR2/calib-K.txt (DIR2 defaults to DIR; one_line_fortunes()[256*K : 256*(K+1)],
one per LF-terminated line), then for each method and cut runs

  PRUNE prune MODEL --data DIR2/calib-K.txt --calibration DIR2/calib-K.txt --criterion METHOD
        {--sparsity S | --granularity N:M} --threads 1 --out DIR/prune-METHOD-CUT-K --quiet --no-report

(method sparsegpt adds --scope layer, the paper's mask selection over each block's entries, as
prune_reference.py's sparsegpt does; sparsegpt-row keeps Prune's default scope, row, like
prune_reference.py's sparsegpt-row; both mark unstructured cuts with "selection"; sparsegpt-row
at 2:4 is the same cut as sparsegpt and is skipped; wanda-dense adds --calibration-inputs dense, every
layer measured on the dense model's inputs as prune_reference.py's wanda is, and marks its rows "inputs": "dense"), and scores the folders with recall.py
(fortunes 5,000-5,999, `prune embed` for dense and pruned), appending one JSON line per folder in prune_reference.py's format with
"side": "prune". Standard library and numpy only (system Python will do).
"""

import argparse
import json
import os
import subprocess
import sys
import time

from fortunes import one_line_fortunes

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CALIBRATION_SIZE = 256


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prune", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--calib-dir")
    parser.add_argument("--model", default=os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2"))
    parser.add_argument("--sets", default="0,1,2,3,4")
    parser.add_argument("--methods", default="wanda,sparsegpt,sparsegpt-row")
    parser.add_argument("--cuts", default="0.3,0.5,2:4")
    parser.add_argument("--out")
    args = parser.parse_args()
    fortunes = one_line_fortunes()
    os.makedirs(args.work, exist_ok=True)
    for k in (int(s) for s in args.sets.split(",")):
        calib = os.path.join(args.calib_dir or args.work, f"calib-{k}.txt")
        with open(calib, "w", encoding="ascii", newline="\n") as f:
            f.write("".join(s + "\n" for s in fortunes[CALIBRATION_SIZE * k:CALIBRATION_SIZE * (k + 1)]))
        folders = {}
        for method in args.methods.split(","):
            for cut in args.cuts.split(","):
                if method == "sparsegpt-row" and ":" in cut:
                    continue
                out = os.path.join(args.work, f"prune-{method}-{cut.replace(':', '')}-{k}")
                option = ["--granularity", cut] if ":" in cut else ["--sparsity", cut]
                if method == "wanda-dense":   # every layer measured on the dense model's inputs
                    option += ["--calibration-inputs", "dense"]
                if method == "sparsegpt" and ":" not in cut:
                    option += ["--scope", "layer"]
                t0 = time.time()
                subprocess.run([args.prune, "prune", args.model, "--data", calib, "--criterion", method.split("-")[0],
                                *option, "--calibration", calib, "--threads", "1", "--out", out, "--quiet",
                                "--no-report"], check=True, stdout=subprocess.DEVNULL)
                folders[out] = (method, cut, round(time.time() - t0, 1))
        result = subprocess.run([sys.executable, os.path.join(HERE, "recall.py"), "--prune", args.prune,
                                 "--dense", args.model, *folders], check=True, capture_output=True, text=True)
        for line in result.stdout.splitlines():
            if not line.startswith("{"):   # `prune embed` says what it wrote
                continue
            scored = json.loads(line)
            method, cut, seconds = folders[scored["folder"]]
            row = {"side": "prune", "method": method.split("-")[0], "cut": cut, "calibration_set": k,
                   "recall_at_10": scored["recall_at_10"], "mean_cosine": scored["mean_cosine"],
                   "prune_seconds": seconds}
            if method.startswith("sparsegpt") and ":" not in cut:
                row["selection"] = "row" if method == "sparsegpt-row" else "block"
            if method == "wanda-dense":
                row["inputs"] = "dense"
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    sys.exit(main())
