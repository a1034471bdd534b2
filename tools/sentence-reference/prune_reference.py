"""PyTorch reference for issue #16: post-training pruning of all-MiniLM-L6-v2, one calibration set.

Usage (the tools venv, see README.md; offline, one thread):
  .build-venv/tools/bin/python tools/sentence-reference/prune_reference.py \
      [--model DIR] [--calibration-set K] [--methods magnitude,wanda,sparsegpt,sparsegpt-row] \
      [--cuts 0.3,0.5,2:4] [--out results.jsonl]

For each method and cut it prunes a fresh copy of the dense weights, embeds the evaluation
sentences and appends one JSON line to --out (and prints it):
  {"side": "pytorch", "method", "cut", "calibration_set", "recall_at_10", "mean_cosine", ...}
(SparseGPT's unstructured cuts also carry "selection": "block" or "row", see below; sparsegpt-row
at 2:4 is the same cut as sparsegpt and is skipped).

The protocol (shared/anchors/transformers.md, "Post-training pruning of all-MiniLM-L6-v2 in
PyTorch"):
- Model: the sentence-transformers folder, loaded with transformers' AutoModel (BERT, 6 layers);
  the embedding is the mean of the last hidden state over the real tokens, L2-normalized.
  Sentences are truncated to 256 tokens.
- Pruned: all 36 encoder Linear weights (query, key, value, attention.output.dense,
  intermediate.dense, output.dense of every layer). Embeddings, LayerNorms and biases are not.
- Calibration set K: one_line_fortunes()[256*K : 256*(K+1)] (K=0 is the anchor's set). One pass
  of the DENSE model over it (batches of 32, padding excluded) records, for every Linear, the
  sum of squares of each input feature (Wanda) and X^T X in float64 (SparseGPT). The cuts are
  not sequential: every layer's statistics come from the dense model.
- magnitude: the lowest |w| of each whole weight matrix (int(sparsity * count) of them);
  2:4 keeps the 2 largest |w| of every 4 consecutive input columns of a row.
- wanda: score |W_ij| * ||X_j||_2 over all calibration tokens; the int(sparsity * columns)
  lowest of each output row are cut (2:4: the 2 lowest of every group of 4 in a row). No update.
- sparsegpt (Frantar & Alistarh 2023): H = X^T X; dead inputs (H_jj = 0) get H_jj = 1 and
  their weights zeroed; lambda = 1% of mean(diag H) added to the diagonal; U = upper Cholesky
  factor of H^-1. Columns go in blocks of 128: at each block's start the mask is chosen from
  w^2 / U_jj^2 with the weights as updated so far: method sparsegpt takes the
  int(sparsity * rows * width) lowest over all of the block's entries together (the paper's
  adaptive selection, "selection": "block"; it reproduces the anchor's figures), method
  sparsegpt-row the int(sparsity * width) lowest of each row's entries in the block
  ("selection": "row", what Prune's --scope row does). For 2:4 the 2 lowest of each group of 4
  are chosen when the sweep reaches the group. Each removed weight's error
  (w / U_jj) is spread over the later columns of the block column by column, and the block's
  errors reach the columns after it in one product (lazy batch update). All in float64.
- Evaluation: one-line fortunes 5,000-5,999 embedded by the dense and by the pruned model
  (batches of 32 in length order, padding masked). mean_cosine: the mean cosine between a
  sentence's dense and pruned embeddings; recall_at_10: the mean over sentences of
  |dense 10-NN & pruned 10-NN| / 10, neighbours by cosine, itself excluded, ties broken by
  numpy's stable argsort (recall.neighbours, shared with recall.py).

Deterministic: torch.set_num_threads(1), no randomness; reruns give the same figures.
"""

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import torch

from fortunes import one_line_fortunes
from recall import neighbours

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CALIBRATION_SIZE = 256
EVALUATION = slice(5000, 6000)
MAX_TOKENS = 256
BATCH = 32
BLOCK = 128
DAMP = 0.01
LINEAR_NAMES = ("attention.self.query", "attention.self.key", "attention.self.value",
                "attention.output.dense", "intermediate.dense", "output.dense")


def parse_cut(text):
    """'0.3' -> ('unstructured', 0.3); '2:4' -> ('n:m', (2, 4))."""
    if ":" in text:
        n, m = (int(p) for p in text.split(":"))
        return ("n:m", (n, m))
    return ("unstructured", float(text))


class Encoder:
    """The model with its tokenizer, mean pooling and normalization, and hooks on the Linears."""

    def __init__(self, folder):
        from transformers import AutoModel, AutoTokenizer
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).eval()
        self.linears = {}
        for i, layer in enumerate(self.model.encoder.layer):
            for name in LINEAR_NAMES:
                module = layer.get_submodule(name)
                assert isinstance(module, torch.nn.Linear), name
                self.linears[f"encoder.layer.{i}.{name}"] = module
        assert len(self.linears) == 36
        self.dense_weights = {k: m.weight.detach().clone() for k, m in self.linears.items()}

    def batches(self, sentences, order):
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            enc = self.tokenizer([sentences[i] for i in idx], padding=True, truncation=True,
                                 max_length=MAX_TOKENS, return_tensors="pt")
            yield idx, enc

    @torch.no_grad()
    def embed(self, sentences):
        """Unit embeddings, float64 numpy [N, 384]; batches in length order (longest first)."""
        lengths = [len(self.tokenizer(s, truncation=True, max_length=MAX_TOKENS)["input_ids"]) for s in sentences]
        order = sorted(range(len(sentences)), key=lambda i: (-lengths[i], i))
        out = np.zeros((len(sentences), self.model.config.hidden_size))
        for idx, enc in self.batches(sentences, order):
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out[idx] = pooled.double().numpy()
        return out

    @torch.no_grad()
    def calibrate(self, sentences):
        """One dense pass: per Linear, the sum over real tokens of x^2 (per input feature) and
        X^T X, both float64, and the token count."""
        stats = {k: {"sq": torch.zeros(m.in_features, dtype=torch.float64),
                     "xtx": torch.zeros(m.in_features, m.in_features, dtype=torch.float64),
                     "tokens": 0} for k, m in self.linears.items()}
        current = {}

        def hook(name):
            def record(module, inputs):
                x = inputs[0][current["mask"]].double()   # [real tokens, in]
                s = stats[name]
                s["sq"] += (x * x).sum(0)
                s["xtx"] += x.T @ x
                s["tokens"] += x.shape[0]
            return record

        handles = [m.register_forward_pre_hook(hook(k)) for k, m in self.linears.items()]
        try:
            for _, enc in self.batches(sentences, list(range(len(sentences)))):
                current["mask"] = enc["attention_mask"].bool()
                self.model(**enc)
        finally:
            for h in handles:
                h.remove()
        return stats

    def restore(self):
        with torch.no_grad():
            for k, m in self.linears.items():
                m.weight.copy_(self.dense_weights[k])


def lowest_per_row(score, count):
    """Boolean mask of the `count` lowest entries of each row (stable: lower column first on ties)."""
    cut = torch.zeros_like(score, dtype=torch.bool)
    if count > 0:
        order = torch.argsort(score, dim=1, stable=True)[:, :count]
        cut.scatter_(1, order, True)
    return cut


def lowest_per_group(score, n, m):
    """Boolean mask of the m - n lowest of every m consecutive columns of each row."""
    rows, cols = score.shape
    assert cols % m == 0
    grouped = score.reshape(rows, cols // m, m)
    order = torch.argsort(grouped, dim=2, stable=True)[:, :, :m - n]
    cut = torch.zeros_like(grouped, dtype=torch.bool)
    cut.scatter_(2, order, True)
    return cut.reshape(rows, cols)


def magnitude(weight, cut, _stats):
    w = weight.abs().double()
    kind, value = cut
    if kind == "n:m":
        mask = lowest_per_group(w, *value)
    else:
        count = int(value * w.numel())
        mask = torch.zeros(w.numel(), dtype=torch.bool)
        if count > 0:
            mask[torch.argsort(w.flatten(), stable=True)[:count]] = True
        mask = mask.reshape(w.shape)
    return weight.masked_fill(mask, 0)


def wanda(weight, cut, stats):
    score = weight.abs().double() * stats["sq"].sqrt().unsqueeze(0)
    kind, value = cut
    mask = lowest_per_group(score, *value) if kind == "n:m" else lowest_per_row(score, int(value * score.shape[1]))
    return weight.masked_fill(mask, 0)


def sparsegpt(weight, cut, stats, selection="block"):
    kind, value = cut
    W = weight.double().clone()
    rows, cols = W.shape
    H = stats["xtx"].clone()
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += DAMP * torch.mean(torch.diag(H)) * torch.eye(cols, dtype=torch.float64)
    Hinv = torch.cholesky_inverse(torch.linalg.cholesky(H))
    U = torch.linalg.cholesky(Hinv, upper=True)
    removed = torch.zeros(rows, cols, dtype=torch.bool)
    for b0 in range(0, cols, BLOCK):
        b1 = min(b0 + BLOCK, cols)
        width = b1 - b0
        Wb = W[:, b0:b1].clone()
        Ub = U[b0:b1, b0:b1]
        d = torch.diag(Ub)
        err = torch.zeros(rows, width, dtype=torch.float64)
        cut_b = torch.zeros(rows, width, dtype=torch.bool)
        if kind == "unstructured":
            saliency = Wb * Wb / (d * d).unsqueeze(0)
            if selection == "row":
                cut_b = lowest_per_row(saliency, int(value * width))
            else:
                count = int(value * saliency.numel())
                flat = torch.zeros(saliency.numel(), dtype=torch.bool)
                if count > 0:
                    flat[torch.argsort(saliency.flatten(), stable=True)[:count]] = True
                cut_b = flat.reshape(rows, width)
        for j in range(width):
            if kind == "n:m":
                n, m = value
                if j % m == 0:
                    group = Wb[:, j:j + m]
                    cut_b[:, j:j + m] = lowest_per_group(group * group / (d[j:j + m] ** 2).unsqueeze(0), n, m)
            w = Wb[:, j]
            e = torch.where(cut_b[:, j], w, torch.zeros_like(w)) / d[j]
            # Removing w at the cut rows: the rest of the block absorbs the error.
            Wb[:, j:] -= e.unsqueeze(1) * Ub[j, j:].unsqueeze(0)
            Wb[cut_b[:, j], j] = 0
            err[:, j] = e
        W[:, b0:b1] = Wb
        removed[:, b0:b1] = cut_b
        if b1 < cols:
            W[:, b1:] -= err @ U[b0:b1, b1:]
    W[removed] = 0
    return W.to(weight.dtype)


def recall_and_cosine(dense, pruned, reference):
    cosine = (dense * pruned).sum(1) / np.linalg.norm(dense, axis=1) / np.linalg.norm(pruned, axis=1)
    found = neighbours(pruned)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(reference, found)])
    return float(recall), float(cosine.mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=os.path.join(ROOT, ".cache", "models", "all-MiniLM-L6-v2"))
    parser.add_argument("--calibration-set", type=int, default=0)
    parser.add_argument("--methods", default="magnitude,wanda,sparsegpt,sparsegpt-row")
    parser.add_argument("--cuts", default="0.3,0.5,2:4")
    parser.add_argument("--out", help="append JSON lines here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    import transformers

    started = time.time()
    fortunes = one_line_fortunes()
    k = args.calibration_set
    calibration = fortunes[CALIBRATION_SIZE * k:CALIBRATION_SIZE * (k + 1)]
    assert len(calibration) == CALIBRATION_SIZE
    evaluation = fortunes[EVALUATION]
    encoder = Encoder(args.model)
    dense = encoder.embed(evaluation)
    reference = neighbours(dense)
    methods = [m for m in args.methods.split(",") if m]
    assert set(methods) <= {"magnitude", "wanda", "sparsegpt", "sparsegpt-row"}, methods
    stats = encoder.calibrate(calibration) if set(methods) - {"magnitude"} else None
    prepared = time.time()
    functions = {"magnitude": magnitude, "wanda": wanda,
                 "sparsegpt": lambda w, c, s: sparsegpt(w, c, s, "block"),
                 "sparsegpt-row": lambda w, c, s: sparsegpt(w, c, s, "row")}
    for method in methods:
        for cut_text in args.cuts.split(","):
            t0 = time.time()
            cut = parse_cut(cut_text)
            if method == "sparsegpt-row" and cut[0] == "n:m":
                continue
            encoder.restore()
            zeros = total = 0
            with torch.no_grad():
                for name, module in encoder.linears.items():
                    new = functions[method](module.weight.detach(), cut, stats[name] if stats else None)
                    module.weight.copy_(new)
                    zeros += int((new == 0).sum())
                    total += new.numel()
            t1 = time.time()
            recall, cosine = recall_and_cosine(dense, encoder.embed(evaluation), reference)
            row = {"side": "pytorch", "method": method.split("-")[0], "cut": cut_text, "calibration_set": k,
                   "recall_at_10": round(recall, 4), "mean_cosine": round(cosine, 4),
                   "zero_fraction": round(zeros / total, 4), "prune_seconds": round(t1 - t0, 1),
                   "eval_seconds": round(time.time() - t1, 1)}
            if method.startswith("sparsegpt") and cut[0] == "unstructured":
                row["selection"] = "row" if method == "sparsegpt-row" else "block"
            row["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                               "numpy": np.__version__, "python": platform.python_version()}
            line = json.dumps(row)
            print(line, flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(line + "\n")
    encoder.restore()
    print(json.dumps({"setup_seconds": round(prepared - started, 1), "total_seconds": round(time.time() - started, 1)}),
          file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
