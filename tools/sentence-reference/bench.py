"""Throughput of all-MiniLM-L6-v2 in sentence-transformers on one thread, and optionally Prune's.

Usage: python bench.py [--model DIR] [--sentences FILE] [--runs 3] [--prune PATH_TO_PRUNE_BINARY]

Embeds the first 1,000 one-line fortunes (fortunes.py says which) with batch 32 and
torch.set_num_threads(1), three times, and prints one JSON object: seconds per run,
sentences per second (from the median run and from the best), and peak RSS in MiB
(getrusage's ru_maxrss of this process, torch's import and the model's load included).

The sentences are written to FILE (default .cache/bench/fortunes-1000.txt), one per line.

With --prune, `PRUNE embed MODEL_DIR --input FILE --out OUT.npy --batch 32` runs in turns with
the sentence-transformers runs (ST, Prune, ST, Prune, ...). Its figures are the wall time of the
whole child process (start-up and model load included, unlike the in-process PyTorch figure,
which times encode() alone) and the child's own peak RSS (os.wait4's rusage, taken by a small launcher process).
When OUT.npy comes back as [1000, 384], the mean and least cosine to PyTorch's embeddings are
reported too. Not run by the tests.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from fortunes import one_line_fortunes

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COUNT = 1000
BATCH = 32


def write_sentences(path):
    sentences = one_line_fortunes()[:COUNT]
    assert len(sentences) == COUNT
    assert all("\n" not in s and "\r" not in s for s in sentences)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for sentence in sentences:
            f.write(sentence + "\n")
    return sentences


# Runs one command and reports its wall time and its own peak RSS. A child forked from this
# process would report this process's RSS as its peak (Linux carries the forked image's high-water
# mark across exec), so the command is started from this small launcher instead.
LAUNCHER = r"""
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"seconds": time.perf_counter() - start, "maxrss_kib": usage.ru_maxrss,
                  "exit": os.waitstatus_to_exitcode(status)}))
"""


def run_prune(binary, model_dir, input_path, out_path):
    """One child run; returns (wall seconds, peak RSS MiB, exit status)."""
    command = [binary, "embed", model_dir, "--input", input_path, "--out", out_path,
               "--batch", str(BATCH)]
    launched = subprocess.run([sys.executable, "-I", "-S", "-c", LAUNCHER, *command],
                              stdout=subprocess.PIPE, check=True, text=True)
    report = json.loads(launched.stdout)
    return report["seconds"], report["maxrss_kib"] / 1024, report["exit"]


def summary(seconds):
    return {"runs_s": [round(s, 3) for s in seconds],
            "sentences_per_s_median": round(COUNT / statistics.median(seconds), 2),
            "sentences_per_s_best": round(COUNT / min(seconds), 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, ".cache/models/all-MiniLM-L6-v2"))
    parser.add_argument("--sentences", default=os.path.join(ROOT, ".cache/bench/fortunes-1000.txt"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prune", metavar="PATH_TO_PRUNE_BINARY")
    args = parser.parse_args()

    sentences = write_sentences(args.sentences)

    import numpy as np
    import torch
    torch.set_num_threads(1)
    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(args.model, device="cpu")
    model.eval()

    st_seconds, prune_seconds, prune_rss, prune_status = [], [], [], []
    reference = None
    out_path = os.path.join(tempfile.gettempdir(), f"prune-bench-{os.getpid()}.npy")
    for _ in range(args.runs):
        start = time.perf_counter()
        reference = model.encode(sentences, batch_size=BATCH, convert_to_numpy=True)
        st_seconds.append(time.perf_counter() - start)
        print(f"sentence-transformers: {st_seconds[-1]:.2f} s", file=sys.stderr)
        if args.prune:
            seconds, rss, status = run_prune(args.prune, args.model, args.sentences, out_path)
            prune_seconds.append(seconds)
            prune_rss.append(rss)
            prune_status.append(status)
            print(f"prune: {seconds:.2f} s, {rss:.0f} MiB, exit {status}", file=sys.stderr)

    result = {
        "sentences": COUNT, "batch": BATCH, "threads": 1, "runs": args.runs,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "sentence_transformers": sentence_transformers.__version__},
        "sentence_transformers": dict(summary(st_seconds), peak_rss_mib=round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)),
    }
    if args.prune:
        prune = dict(summary(prune_seconds), peak_rss_mib=round(max(prune_rss), 1),
                     exit_codes=prune_status, timed="whole process: start-up and model load included")
        try:
            embedded = np.load(out_path)
        except (OSError, ValueError) as error:
            prune["output"] = f"unreadable: {error}"
        else:
            if embedded.shape == reference.shape:
                a = embedded.astype(np.float64)
                b = reference.astype(np.float64)
                cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
                prune["cosine_to_pytorch"] = {"mean": float(cosine.mean()), "min": float(cosine.min())}
            else:
                prune["output"] = f"shape {list(embedded.shape)}, expected {list(reference.shape)}"
            os.remove(out_path)
        result["prune"] = prune
        result["speedup_median"] = round(statistics.median(st_seconds) / statistics.median(prune_seconds), 3)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
