"""Prints mean, spread and the count of seeds at or above PyTorch's single run for every
JSON line the replica scripts wrote (read from the files given, or standard input)."""
import json, sys
import numpy as np

PYTORCH = {  # ../shared/anchors/pytorch-fashion-mnist.md, single runs
    "dense": 87.39, "ft0.0": 89.51, "ft0.5": 89.50, "ft0.8": 89.29, "ft0.9": 89.03, "ft0.95": 87.83, "ft0.98": 85.84,
    "cut0.5": 87.50, "cut0.8": 86.86, "cut0.9": 80.21, "cut0.95": 61.28, "cut0.98": 36.05,
    "agp0.9": 89.42, "agp0.98": 88.62, "neuron-ft0.5": 89.13, "neuron-ft0.75": 88.21,
    "neuron-cut0.5": 86.35, "neuron-cut0.75": 58.00,
}

rows = [json.loads(line) for f in (sys.argv[1:] or ["-"]) for line in (sys.stdin if f == "-" else open(f)) if line.strip()]
keys = [k for k in PYTORCH if any(k in r for r in rows)]
print(f"{'figure':<16}{'seeds':>6}{'mean':>8}{'sd':>6}{'min':>8}{'max':>8}{'PyTorch':>9}{'seeds ≥ PyTorch':>17}")
for k in keys:
    v = np.array([100 * r[k] for r in rows if k in r])
    sd = v.std(ddof=1) if len(v) > 1 else 0
    print(f"{k:<16}{len(v):>6}{v.mean():>8.2f}{sd:>6.2f}{v.min():>8.2f}{v.max():>8.2f}{PYTORCH[k]:>9.2f}{int((v >= PYTORCH[k]).sum()):>12}/{len(v)}")
