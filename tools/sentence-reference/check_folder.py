"""Does a model folder written by Prune load in sentence-transformers, and embed as Prune does?

Usage: python check_folder.py OUT_DIR --prune PATH_TO_PRUNE_BINARY [--dense DIR] [--count 200] [--onnx FILE]

OUT_DIR is a folder `prune prune MODEL_DIR ... --out OUT_DIR` wrote. The tool takes one-line
fortunes 5,000-5,000+count (fortunes.py), embeds them with sentence-transformers loading OUT_DIR
offline (torch, one thread) and with `PRUNE embed OUT_DIR`, and prints one JSON object: the
largest |difference| and the least cosine between the two, the share of exact zeros transformers
read in the encoder's Linear weights, the mean cosine of the pruned embeddings to the dense
folder's (--dense, default the unpacked all-MiniLM-L6-v2), and what transformers logged while
loading. With --onnx FILE (what `prune export OUT_DIR --format onnx` wrote; needs onnxruntime),
ONNX Runtime embeds the same sentences from the folder tokenizer's ids, batches of 32 padded to
their longest, and the JSON adds its largest |difference| from sentence-transformers and from
Prune. Not run by the tests.
"""

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from fortunes import one_line_fortunes

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--prune", required=True)
    parser.add_argument("--dense", default=os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--onnx")
    args = parser.parse_args()
    torch.set_num_threads(1)

    sentences = one_line_fortunes()[5000:5000 + args.count]
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage().splitlines()[0])

    logging.getLogger("transformers").addHandler(Keep())
    pruned = SentenceTransformer(args.folder, device="cpu")
    theirs = pruned.encode(sentences, batch_size=32, convert_to_numpy=True)
    dense = SentenceTransformer(args.dense, device="cpu").encode(sentences, batch_size=32, convert_to_numpy=True)

    linear = [m.weight for m in pruned[0].auto_model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    zeros = sum(int((w == 0).sum()) for w in linear) / sum(w.numel() for w in linear)

    with tempfile.TemporaryDirectory() as work:
        text, out = os.path.join(work, "s.txt"), os.path.join(work, "e.npy")
        with open(text, "w", encoding="ascii", newline="\n") as f:
            f.write("".join(s + "\n" for s in sentences))
        subprocess.run([args.prune, "embed", args.folder, "--input", text, "--out", out, "--quiet"], check=True)
        ours = np.load(out)

    def cosines(a, b):
        return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    onnx_figures = {}
    if args.onnx:
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
        tokenizer = pruned[0].tokenizer
        batches = []
        for start in range(0, len(sentences), 32):
            ids = tokenizer(sentences[start:start + 32], padding=True, truncation=True,
                            max_length=pruned.max_seq_length, return_tensors="np")["input_ids"]
            batches.append(session.run(None, {"input": ids.astype(np.int64)})[0])
        runtime = np.concatenate(batches)
        onnx_figures = {
            "onnx_runtime_max_abs_difference_to_sentence_transformers": float(np.abs(runtime - theirs).max()),
            "onnx_runtime_max_abs_difference_to_prune": float(np.abs(runtime - ours).max()),
        }

    print(json.dumps({
        "sentences": len(sentences),
        "max_abs_difference": float(np.abs(ours - theirs).max()),
        "least_cosine_prune_vs_sentence_transformers": float(cosines(ours, theirs).min()),
        "encoder_linear_zero_share": round(zeros, 4),
        "mean_cosine_to_dense": float(cosines(theirs, dense).mean()),
        "transformers_log": records,
        **onnx_figures,
    }, indent=1))


if __name__ == "__main__":
    sys.exit(main())
