"""Issue #16's quality figures for pruned MiniLM folders: recall@10 and mean cosine.

Usage: python recall.py --prune PATH_TO_PRUNE_BINARY [--dense DIR] PRUNED_DIR [PRUNED_DIR ...]

The one-line fortunes 5,000-5,999 (fortunes.py) are embedded with `prune embed` by the dense
folder (--dense, default the unpacked all-MiniLM-L6-v2) and by each pruned folder. For each
pruned folder one JSON line gives the mean cosine between its embedding and the dense one of the
same sentence, and recall@10: the share of each sentence's 10 nearest neighbours under the dense
embeddings (cosine, itself excluded) that are also among its 10 nearest under the pruned ones,
averaged over the 1,000 sentences. Needs numpy only. Not run by the tests.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from fortunes import one_line_fortunes

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def embed(prune, folder, text, work):
    out = os.path.join(work, "e.npy")
    subprocess.run([prune, "embed", folder, "--input", text, "--out", out, "--quiet"], check=True)
    return np.load(out)


def neighbours(e, k=10):
    """Each row's k nearest rows by cosine, itself excluded."""
    unit = e / np.linalg.norm(e, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    return np.argsort(-similarity, axis=1, kind="stable")[:, :k]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pruned", nargs="+")
    parser.add_argument("--prune", required=True)
    parser.add_argument("--dense", default=os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2"))
    args = parser.parse_args()
    sentences = one_line_fortunes()[5000:6000]
    with tempfile.TemporaryDirectory() as work:
        text = os.path.join(work, "s.txt")
        with open(text, "w", encoding="ascii", newline="\n") as f:
            f.write("".join(s + "\n" for s in sentences))
        dense = embed(args.prune, args.dense, text, work)
        reference = neighbours(dense)
        for folder in args.pruned:
            pruned = embed(args.prune, folder, text, work)
            cosine = (dense * pruned).sum(1) / np.linalg.norm(dense, axis=1) / np.linalg.norm(pruned, axis=1)
            found = neighbours(pruned)
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(reference, found)])
            print(json.dumps({"folder": folder, "sentences": len(sentences), "recall_at_10": round(float(recall), 4),
                              "mean_cosine": round(float(cosine.mean()), 4)}))


if __name__ == "__main__":
    sys.exit(main())
