"""gpt-tiny in PyTorch: the reference recipe Prune's byte-level GPT mirrors (issue #15).

Usage: python train_gpt_tiny.py [--steps 1389] [--seed 0] [--minutes M] [--eval-every K] [--threads 1]
                                [--save PATH.safetensors]

Model (875,264 parameters): bytes 0-255 as tokens, learned positions, context 128; 4 pre-LayerNorm
blocks of width d = 128 with 4 heads: x += proj(attention(qkv(ln_1(x)))), then
x += down(gelu_tanh(fc(ln_2(x)))); a final LayerNorm; an untied head Linear(128, 256) without bias.
LayerNorm eps 1e-5. Linear weights are [out, in] (PyTorch's).

Init: Linear and Embedding weights N(0, 0.02), biases 0, LayerNorms 1 and 0; the two output
projections of each block (attention's proj, the MLP's down) N(0, 0.02 / sqrt(2 * 4)).

Data: Debian's fortunes files sorted by name (regular files only; no .dat, .u8 or symlinks).
Files 0, 10, 20, 30, 40 are held out; the others, concatenated as raw bytes, are the training
text. A batch is 32 windows of 129 bytes at uniformly random offsets (inputs the first 128,
targets the last 128).

Training: AdamW lr 3e-3, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on the 2-D weights of the
Linear layers only (not the embeddings, LayerNorms or biases). Learning rate at step s (0-based):
lr * (s + 1) / 200 for s < 200, then 0.1 lr + 0.45 lr (1 + cos(pi (s - 200) / (steps - 200))).
Gradients clipped to global norm 1. One thread.

Held-out bits per byte: the held-out files concatenated (raw bytes, sorted order), cut into
non-overlapping windows of 129 bytes starting at 0, 128, 256, ... (so window k predicts bytes
128k+1 ... 128k+128 from the bytes before them in the window), as many as fit
(floor((n - 1) / 128)); the mean cross-entropy over every predicted byte, divided by ln 2.

Prints one JSON object at the end; progress goes to stderr as JSON lines.
"""

import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

FORTUNES_DIR = "/usr/share/games/fortunes"
VOCAB, CONTEXT, WIDTH, HEADS, LAYERS = 256, 128, 128, 4, 4
PARAMETERS = 875_264
BATCH = 32
LR, BETAS, EPS, WEIGHT_DECAY = 3e-3, (0.9, 0.95), 1e-8, 0.1
WARMUP, FINAL_FRACTION, CLIP = 200, 0.1, 1.0
EVAL_BATCH = 64


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(WIDTH)
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)       # weight [3d, d]: rows q, then k, then v
        self.proj = nn.Linear(WIDTH, WIDTH)
        self.ln_2 = nn.LayerNorm(WIDTH)
        self.fc = nn.Linear(WIDTH, 4 * WIDTH)
        self.down = nn.Linear(4 * WIDTH, WIDTH)

    def forward(self, x):                             # x [B, T, d]
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(d, dim=2)
        # [B, T, d] -> [B, heads, T, d / heads]; head h takes columns h*32 ..< (h+1)*32
        q, k, v = (z.view(b, t, HEADS, d // HEADS).transpose(1, 2) for z in (q, k, v))
        # softmax(q k^T / sqrt(32) + causal mask) v
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.down(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))


class GPTTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(VOCAB, WIDTH)
        self.positions = nn.Embedding(CONTEXT, WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for block in self.blocks:
            for projection in (block.proj, block.down):
                nn.init.normal_(projection.weight, 0.0, 0.02 / math.sqrt(2 * LAYERS))

    def forward(self, ids):                           # ids [B, T] int64 -> logits [B, T, 256]
        x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def fortune_files():
    paths = []
    for name in sorted(os.listdir(FORTUNES_DIR)):
        path = os.path.join(FORTUNES_DIR, name)
        if name.endswith((".dat", ".u8")) or os.path.islink(path) or not os.path.isfile(path):
            continue
        paths.append(path)
    return paths


def split_text():
    """(training bytes, held-out bytes, held-out file names) as uint8 tensors."""
    train, held_out, held_names = [], [], []
    for i, path in enumerate(fortune_files()):
        data = open(path, "rb").read()
        if i % 10 == 0:
            held_out.append(data)
            held_names.append(os.path.basename(path))
        else:
            train.append(data)
    as_tensor = lambda parts: torch.frombuffer(bytearray(b"".join(parts)), dtype=torch.uint8)
    return as_tensor(train), as_tensor(held_out), held_names


def learning_rate(step, steps):
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    progress = (step - WARMUP) / max(1, steps - WARMUP)
    return LR * (FINAL_FRACTION + (1 - FINAL_FRACTION) * 0.5 * (1 + math.cos(math.pi * progress)))


def optimizer_for(model):
    """AdamW; weight decay only on the 2-D weights of Linear layers."""
    decayed = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    decayed_ids = {id(p) for p in decayed}
    rest = [p for p in model.parameters() if id(p) not in decayed_ids]
    return torch.optim.AdamW([{"params": decayed, "weight_decay": WEIGHT_DECAY},
                              {"params": rest, "weight_decay": 0.0}],
                             lr=LR, betas=BETAS, eps=EPS)


@torch.no_grad()
def held_out_bits_per_byte(model, text):
    model.eval()
    windows = (len(text) - 1) // CONTEXT
    starts = torch.arange(windows) * CONTEXT
    total, count = 0.0, 0
    for first in range(0, windows, EVAL_BATCH):
        chunk = text[starts[first:first + EVAL_BATCH, None] + torch.arange(CONTEXT + 1)].long()
        logits = model(chunk[:, :-1])
        total += F.cross_entropy(logits.reshape(-1, VOCAB), chunk[:, 1:].reshape(-1),
                                 reduction="sum").item()
        count += chunk[:, 1:].numel()
    model.train()
    return total / count / math.log(2)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description="Train gpt-tiny on the fortunes (the PyTorch reference).")
    parser.add_argument("--steps", type=int, default=1389, help="steps of the schedule (default 1389)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, help="stop when training has taken this long")
    parser.add_argument("--eval-every", type=int, default=0, metavar="K",
                        help="held-out bits/byte every K steps (0: only at the end)")
    parser.add_argument("--save", metavar="PATH", help="write the trained weights as safetensors")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, the recipe's)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = GPTTiny()
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters == PARAMETERS, parameters
    optimizer = optimizer_for(model)
    train, held_out, held_names = split_text()
    sampler = torch.Generator().manual_seed(args.seed)
    offsets = torch.arange(CONTEXT + 1)
    print(json.dumps({"parameters": parameters, "train_bytes": len(train),
                      "held_out_bytes": len(held_out), "held_out_files": held_names}), file=sys.stderr)

    history, seconds, eval_seconds, step = [], 0.0, 0.0, 0
    model.train()
    while step < args.steps and (args.minutes is None or seconds < args.minutes * 60):
        start = time.perf_counter()
        starts = torch.randint(0, len(train) - CONTEXT, (BATCH,), generator=sampler)
        batch = train[starts[:, None] + offsets].long()          # [32, 129]
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps)
        optimizer.step()
        seconds += time.perf_counter() - start
        step += 1
        history.append(loss.item() / math.log(2))
        if args.eval_every and step % args.eval_every == 0 and step < args.steps:
            start = time.perf_counter()
            bits = held_out_bits_per_byte(model, held_out)
            eval_seconds += time.perf_counter() - start
            print(json.dumps({"step": step, "train_bits_per_byte": round(history[-1], 4),
                              "held_out_bits_per_byte": round(bits, 4),
                              "seconds": round(seconds, 1)}), file=sys.stderr)

    start = time.perf_counter()
    bits = held_out_bits_per_byte(model, held_out)
    eval_seconds += time.perf_counter() - start
    if args.save:
        from safetensors.torch import save_file
        save_file({name: p.detach().contiguous() for name, p in model.state_dict().items()}, args.save)
    last = history[-10:]
    print(json.dumps({
        "steps": step, "seed": args.seed, "seconds": round(seconds, 2),
        "tokens_per_s": round(step * BATCH * CONTEXT / seconds, 1),
        "first_train_bits_per_byte": round(history[0], 4),
        "last10_train_bits_per_byte": round(sum(last) / len(last), 4),
        "held_out_bits_per_byte": round(bits, 4),
        "eval_seconds": round(eval_seconds, 2),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
