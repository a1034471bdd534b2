"""Loads a model file Prune wrote into the equivalent PyTorch module with load_state_dict(strict=True)
and compares what the two compute.

The module is built from the file's own `prune.architecture` metadata (modules.SpecModule), so any
Prune model works: built-in or `--model SPEC.json`.

Usage:
  check_strict.py MODEL.safetensors [--inputs X.npy --outputs Y.npy] [--data DIR] [--prune PRUNE]

--inputs/--outputs: float32 inputs and Prune's outputs on them; prints the largest difference.
--data: evaluates the PyTorch module on the Fashion-MNIST test set in DIR; with --prune (the prune
executable) also runs `prune eval MODEL --json` and compares the accuracies.
Exits 1 when strict loading fails or a comparison is off (outputs > 1e-4, accuracy not equal).
"""
import argparse
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from modules import SpecModule


def idx(path):
    with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def find(folder, stem):
    for candidate in (f"{folder}/{stem}.gz", f"{folder}/{stem}"):
        if os.path.exists(candidate):
            return candidate
    sys.exit(f"{folder}: no {stem}[.gz]")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--inputs")
    parser.add_argument("--outputs")
    parser.add_argument("--data")
    parser.add_argument("--prune")
    args = parser.parse_args()

    with safe_open(args.model, framework="pt") as f:
        spec = json.loads(f.metadata()["prune.architecture"])
    module = SpecModule(spec)
    state = load_file(args.model)
    result = module.load_state_dict(state, strict=True)   # raises on any missing or unexpected key or shape
    module.eval()
    weights = [v for k, v in state.items() if k.endswith(".weight") and v.dim() >= 2]
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.numel() for w in weights)
    print(f"strict load: {len(state)} tensors, missing {len(result.missing_keys)}, unexpected {len(result.unexpected_keys)}; "
          f"dtypes {sorted({str(v.dtype) for v in state.values()})}; "
          f"weights {zeros}/{total} exact zeros ({100 * zeros / max(total, 1):.2f}%)")
    ok = True
    if args.inputs and args.outputs:
        x = torch.from_numpy(np.load(args.inputs))
        expected = np.load(args.outputs)
        with torch.no_grad():
            y = module(x).numpy()
        diff = float(np.abs(y - expected).max())
        print(f"outputs on {len(x)} inputs: max |PyTorch - Prune| = {diff:.3g}")
        ok &= diff <= 1e-4
    if args.data:
        images = idx(find(args.data, "t10k-images-idx3-ubyte"))
        labels = idx(find(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64)
        x = torch.from_numpy(images.astype(np.float32) / 255).reshape([len(images)] + spec["inputShape"])
        with torch.no_grad():
            predicted = torch.cat([module(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)]).numpy()
        accuracy = float((predicted == labels).mean())
        print(f"PyTorch test accuracy: {100 * accuracy:.2f}% ({int((predicted == labels).sum())}/{len(labels)})")
        if args.prune:
            run = subprocess.run([args.prune, "eval", args.model, "--json", "--data", args.data],
                                 capture_output=True, text=True, check=True)
            theirs = json.loads(run.stdout)["accuracy"]
            print(f"prune eval accuracy:   {100 * theirs:.2f}%")
            ok &= abs(theirs - accuracy) < 0.5 / len(labels)
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
