"""A NumPy re-implementation of the PyTorch anchor's recipe (LeNet-300-100, Fashion-MNIST):
PyTorch's default initialization, SGD with momentum 0.9 (PyTorch's buffer form), lr 0.05,
batch 128, 10 epochs; then a one-shot global magnitude cut of the three weights and 3
fine-tuning epochs at lr 0.01 with a fresh optimizer. Used to see how much the one-shot +
fine-tuning accuracy varies with the seed, independently of Prune's code. The environment
variable INIT picks another initialization (see `init`)."""
import gzip, json, os, sys
import numpy as np

D = "/usr/share/datasets/fashion-mnist"
def idx(name, off):
    with gzip.open(f"{D}/{name}") as f: return np.frombuffer(f.read(), np.uint8, offset=off)
Xtr = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
Ytr = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64)
Xte = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
Yte = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64)
sizes = [(300, 784), (100, 300), (10, 100)]

INIT = os.environ.get("INIT", "torch")

def init(rng):
    """torch: U(±1/√fan_in) weights and biases (PyTorch's Linear default); he: U(±√(6/fan_in)),
    zero biases (Prune's default); lecun: U(±√(3/fan_in)), zero biases; glorot:
    U(±√(6/(fan_in + fan_out))), zero biases."""
    p = []
    for o, i in sizes:
        if INIT == "torch":
            b = 1 / np.sqrt(i)
            p += [rng.uniform(-b, b, (o, i)).astype(np.float32), rng.uniform(-b, b, o).astype(np.float32)]
            continue
        b = {"he": np.sqrt(6 / i), "lecun": np.sqrt(3 / i), "glorot": np.sqrt(6 / (i + o))}[INIT]
        p += [rng.uniform(-b, b, (o, i)).astype(np.float32), np.zeros(o, np.float32)]
    return p

def forward(p, x):
    a = [x]
    for l in range(3):
        z = a[-1] @ p[2 * l].T + p[2 * l + 1]
        a.append(np.maximum(z, 0) if l < 2 else z)
    return a

def accuracy(p):
    return float((forward(p, Xte)[-1].argmax(1) == Yte).mean())

def step(p, buf, ix, lr, masks=None, bias_masks=None):
    """One SGD step with momentum 0.9 (PyTorch's form: buf = 0.9·buf + g, p -= lr·buf) on the
    training samples `ix`; masked gradient entries stay zero, so masked weights stay put."""
    a = forward(p, Xtr[ix])
    z = a[-1]
    e = np.exp(z - z.max(1, keepdims=True)); e /= e.sum(1, keepdims=True)
    e[np.arange(len(ix)), Ytr[ix]] -= 1
    g = e / len(ix)
    grads = [None] * 6
    for l in (2, 1, 0):
        grads[2 * l] = g.T @ a[l]
        grads[2 * l + 1] = g.sum(0)
        if l > 0: g = (g @ p[2 * l]) * (a[l] > 0)
    for k in range(6):
        gk = grads[k].astype(np.float32)
        if masks is not None and k % 2 == 0: gk *= masks[k // 2]
        if bias_masks is not None and k % 2 == 1 and bias_masks[k // 2] is not None: gk *= bias_masks[k // 2]
        buf[k] = gk if buf[k] is None else 0.9 * buf[k] + gk
        p[k] -= np.float32(lr) * buf[k]

def train(p, epochs, lr, seed, masks=None, bias_masks=None):
    rng = np.random.default_rng(seed)
    buf = [None] * 6
    n = len(Xtr)
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, 128):
            step(p, buf, order[s:s + 128], lr, masks, bias_masks)
    return p

def cut(p, s):
    w = np.concatenate([np.abs(p[2 * l]).ravel() for l in range(3)])
    k = int(round(s * w.size))
    thr = np.partition(w, k - 1)[k - 1] if k > 0 else -1
    masks = [(np.abs(p[2 * l]) > thr).astype(np.float32) for l in range(3)]
    q = [x.copy() for x in p]
    for l in range(3): q[2 * l] *= masks[l]
    return q, masks

def main():
    seed = int(sys.argv[1])
    p = train(init(np.random.default_rng(1000 + seed)), 10, 0.05, seed)
    out = {"seed": seed, "dense": accuracy(p)}
    for s in [0.0, 0.5, 0.8, 0.9, 0.95, 0.98]:
        q, m = cut(p, s)
        out[f"cut{s}"] = accuracy(q)
        out[f"ft{s}"] = accuracy(train(q, 3, 0.01, seed, m))
    print(json.dumps(out), flush=True)

if __name__ == "__main__":
    main()
