"""Prune and PyTorch on the same shapes and models, in alternating turns, on this machine.

One command, one table of ratios (issue #17): dense training, sparse layers, whole-model sparse
inference, compacted inference. Each case runs `rounds` times, Prune's turn then PyTorch's; the
table gives the medians over rounds and the ratio of medians, with the CPU, the BLAS Prune uses
and PyTorch's CPU capability named above it. Raw figures go to a JSON file beside.

Run with the tools venv (tools/side-by-side/run.sh makes it). A dev tool, not the product.
"""

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
from safetensors.numpy import load_file

FASHION = "/usr/share/datasets/fashion-mnist"


# ---------------------------------------------------------------- the machine

def machine():
    model, flags = platform.machine(), set()
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and model == platform.machine():
                model = value.strip()
            elif key == "flags":
                flags |= set(value.split())
    except OSError:
        pass
    wanted = ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16"]
    return {"model": model, "features": [f for f in wanted if f in flags], "cores": os.cpu_count()}


# ---------------------------------------------------------------- timing, as Prune's timeInTurns

def time_in_turns(bodies, seconds=0.3, block=1, maximum_runs=2000):
    """Per-call seconds of each body: warm-up, then blocks of `block` consecutive calls, the
    bodies taking turns block by block (the first call of a block untimed when block > 1)."""
    start = time.perf_counter()
    bodies[0]()
    probe = time.perf_counter() - start
    runs = max(15, min(maximum_runs, int(seconds / max(probe, 1e-7))))
    for body in bodies:
        for _ in range(max(3, runs // 10)):
            body()
    samples = [[] for _ in bodies]
    block = max(1, min(block, runs))
    for _ in range((runs + block - 1) // block):
        for i, body in enumerate(bodies):
            if block > 1:
                body()
            for _ in range(block):
                start = time.perf_counter()
                body()
                samples[i].append(time.perf_counter() - start)
    return samples


# ---------------------------------------------------------------- data and models

def fashion(split):
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(f"{FASHION}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{FASHION}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.from_numpy(images.astype(np.float32) / 255), torch.from_numpy(labels.astype(np.int64))


def lenet300(sizes=(784, 300, 100, 10)):
    layers = [nn.Flatten()]
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def lenet5():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def mlp_from_file(path):
    """A Prune model file of Dense layers fc1, fc2, … as a torch MLP."""
    tensors = load_file(path)
    names = sorted({k.split(".")[0] for k in tensors if k.endswith(".weight")}, key=lambda n: int(n[2:]))
    weights = [tensors[f"{n}.weight"] for n in names]   # cut entries are stored as zeros
    sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    model = lenet300(sizes)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for linear, n, w in zip(linears, names, weights):
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
            linear.bias.copy_(torch.from_numpy(tensors[f"{n}.bias"]))
    return model.eval()


# ---------------------------------------------------------------- PyTorch's side

def torch_spmm(sparsity, batch):
    gen = torch.Generator().manual_seed(11)
    w = torch.rand(4096, 4096, generator=gen) * 2 - 1
    flat = w.view(-1)
    flat[torch.randperm(flat.numel(), generator=gen)[: round(sparsity * flat.numel())]] = 0
    csr = w.to_sparse_csr()
    x = torch.rand(4096, batch, generator=gen)
    if batch == 1:
        v = x[:, 0].contiguous()
        dense, sparse = (lambda: torch.mv(w, v)), (lambda: torch.mv(csr, v))
    else:
        dense, sparse = (lambda: torch.mm(w, x)), (lambda: torch.mm(csr, x))
    with torch.inference_mode():
        td, ts = time_in_turns([dense, sparse], seconds=0.5, block=20, maximum_runs=5000)
    return {"dense_ms": 1e3 * statistics.median(td), "sparse_ms": 1e3 * statistics.median(ts)}


def torch_train(arch, images, labels, blocks=20, steps=50, batch=128):
    torch.manual_seed(1)
    model = lenet300() if arch == "lenet300" else lenet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss = nn.CrossEntropyLoss()
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(1))
    n = images.shape[0] // batch
    rates, step = [], 0

    def one_step():
        nonlocal step
        idx = order[(step % n) * batch:(step % n + 1) * batch]
        step += 1
        opt.zero_grad(set_to_none=True)
        loss(model(images[idx]), labels[idx]).backward()
        opt.step()

    for _ in range(steps):   # warm-up block
        one_step()
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(steps):
            one_step()
        rates.append(steps * batch / (time.perf_counter() - start))
    return {"samples_per_second": statistics.median(rates)}


def torch_infer(path, images, batches):
    model = mlp_from_file(path)
    out = {}
    with torch.inference_mode():
        for b in batches:
            x = images[[i % images.shape[0] for i in range(b)]]
            (t,) = time_in_turns([lambda: model(x)])
            out[b] = {"ms": 1e3 * statistics.median(t)}
    return out


# ---------------------------------------------------------------- Prune's side

def prune_json(prune, *args, threads=1):
    result = subprocess.run([prune, *args, "--threads", str(threads), "--json"], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"prune {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return json.loads(result.stdout)


def prepare_models(prune, work):
    """A trained LeNet-300-100, its 90% cut (per layer, so every layer can run sparse) and its
    half-the-neurons cut compacted: the files both sides load."""
    dense, s90 = f"{work}/dense.safetensors", f"{work}/s90.safetensors"
    n50, n50c = f"{work}/n50.safetensors", f"{work}/n50c.safetensors"
    steps = [
        ["train", "--model", "lenet300", "--epochs", "2", "--quiet", "--out", dense],
        ["prune", dense, "--sparsity", "0.9", "--scope", "layer", "--quiet", "--out", s90],
        ["prune", dense, "--granularity", "neuron", "--criterion", "l2-norm", "--sparsity", "0.5", "--quiet", "--out", n50],
        ["compact", n50, "--out", n50c],
    ]
    for args in steps:
        subprocess.run([prune, *args], check=True, stdout=subprocess.DEVNULL)
    return dense, s90, n50c


# ---------------------------------------------------------------- the cases

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prune", default=".build/release/prune")
    parser.add_argument("--rounds", type=int, default=3, help="turns of each side per case")
    parser.add_argument("--only", nargs="*", default=["spmm", "infer", "compact", "train"],
                        help="cases to run: spmm infer compact train")
    parser.add_argument("--threads", nargs="*", type=int, default=[1, 2], help="thread counts of the training cases")
    parser.add_argument("--out", default=None, help="JSON file of every figure (default: results/<date>.json)")
    args = parser.parse_args()
    torch.set_num_interop_threads(1)
    here = os.path.dirname(os.path.abspath(__file__))
    out = args.out or os.path.join(here, "results", time.strftime("%Y-%m-%d-%H%M") + ".json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    cpu = machine()
    blas = prune_json(args.prune, "bench", "spmm", "--rows", "64", "--cols", "64", "--runs", "3")["blas"]
    header = {"cpu": cpu, "prune_blas": blas, "torch": torch.__version__,
              "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()}
    rows, raw = [], {"machine": header, "cases": []}

    def record(case, prune_figures, torch_figures):
        raw["cases"].append({"case": case, "prune": prune_figures, "torch": torch_figures})
        print(json.dumps(raw["cases"][-1]), file=sys.stderr, flush=True)

    med = lambda xs: statistics.median(xs)
    if "spmm" in args.only:
        torch.set_num_threads(1)
        for batch in (1, 128):
            for sparsity in (0.9, 0.95, 0.99):
                p, t = [], []
                for _ in range(args.rounds):
                    p.append(prune_json(args.prune, "bench", "spmm", "--sparsity", str(sparsity), "--batch", str(batch)))
                    t.append(torch_spmm(sparsity, batch))
                record(f"spmm {sparsity} batch {batch}", p, t)
                ps = med([r["speedup"] for r in p])
                ts = med([r["dense_ms"] / r["sparse_ms"] for r in t])
                bound = p[0]["bytes_bound"]
                rows.append((f"4096² at {100 * sparsity:g}%, batch {batch}: CSR speedup over own dense",
                             f"{ps:.2f}× ({med([r['sparse_ms'] for r in p]):.3f} ms)",
                             f"{ts:.2f}× ({med([r['sparse_ms'] for r in t]):.3f} ms)",
                             f"{ps / ts:.2f}",
                             f"bytes bound {bound:.2f}×, reached {100 * ps / bound:.0f}%" if batch == 1 else ""))
    images, labels = fashion("test")
    work = tempfile.mkdtemp(prefix="side-by-side-")
    if "infer" in args.only or "compact" in args.only:
        dense, s90, n50c = prepare_models(args.prune, work)
        torch.set_num_threads(1)
        cases = ([("LeNet-300-100 at 90% (Prune sparse path) vs PyTorch dense", s90, "sparse_ms")] if "infer" in args.only else []) \
            + ([("LeNet-300-100, half the neurons, compacted", n50c, "dense_ms")] if "compact" in args.only else [])
        for title, path, key in cases:
            p, t = [], []
            for _ in range(args.rounds):
                p.append(prune_json(args.prune, "bench", "infer", path, "--batch", "1", "--batch", "256"))
                t.append(torch_infer(path, images, (1, 256)))
            record(title, p, t)
            for i, b in enumerate((1, 256)):
                pm = med([r["results"][i][key] for r in p])
                tm = med([r[b]["ms"] for r in t])
                rows.append((f"{title}, batch {b}: latency", f"{pm:.4f} ms", f"{tm:.4f} ms", f"{tm / pm:.2f}",
                             f"Prune's own dense path {med([r['results'][i]['dense_ms'] for r in p]):.4f} ms"))
    if "train" in args.only:
        train_images, train_labels = fashion("train")
        for arch in ("lenet300", "lenet5"):
            for threads in args.threads:
                torch.set_num_threads(threads)
                p, t = [], []
                for _ in range(args.rounds):
                    p.append(prune_json(args.prune, "bench", "train", "--model", arch, "--epochs", "1", threads=threads))
                    t.append(torch_train(arch, train_images, train_labels))
                record(f"train {arch} threads {threads}", p, t)
                ps = med([r["blockSamplesPerSecond"] for r in p])
                tsps = med([r["samples_per_second"] for r in t])
                rows.append((f"train {arch}, batch 128, {threads} thread{'s' if threads > 1 else ''}: samples/s (50-step blocks)",
                             f"{ps:,.0f}", f"{tsps:,.0f}", f"{ps / tsps:.2f}", ""))
    with open(out, "w") as f:
        json.dump(raw, f, indent=1)
    print(f"CPU: {cpu['model']} ({' '.join(cpu['features'])}, {cpu['cores']} cores); Prune's BLAS: {blas}; "
          f"PyTorch {torch.__version__} (CPU capability {header['torch_cpu_capability']}); "
          f"{args.rounds} alternating rounds, medians\n")
    print("| case | Prune | PyTorch | ratio | note |")
    print("|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print(f"\nfigures: {out}")


if __name__ == "__main__":
    main()
