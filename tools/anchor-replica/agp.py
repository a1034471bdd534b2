"""NumPy replica of the anchor's AGP run (see anchor.py): lr 0.05 for epochs 1-10 and 0.01
for 11-13 (one optimizer), a global magnitude cut every 67 steps from step 469 to 4690 along
Zhu & Gupta's cubic ramp to s_f (64 cuts, masks never regrow), then 3 epochs with the mask fixed."""
import sys, json
import numpy as np
from anchor import Xtr, init, step, accuracy

def run(seed, sf):
    p = init(np.random.default_rng(1000 + seed))
    rng = np.random.default_rng(seed)
    masks = [np.ones_like(p[2 * l]) for l in range(3)]
    N = sum(m.size for m in masks)
    buf = [None] * 6
    t, t0, k, n = 0, 469, 67, 63
    for epoch in range(13):
        lr = 0.05 if epoch < 10 else 0.01
        order = rng.permutation(len(Xtr))
        for s in range(0, len(Xtr), 128):
            if t0 <= t <= t0 + n * k and (t - t0) % k == 0:
                st = sf * (1 - (1 - (t - t0) / (n * k)) ** 3)
                pruned = N - int(sum(m.sum() for m in masks))
                amount = int(round(st * N)) - pruned
                if amount > 0:
                    w = np.concatenate([np.where(masks[l] > 0, np.abs(p[2 * l]), np.inf).ravel() for l in range(3)])
                    thr = np.partition(w, amount - 1)[amount - 1]
                    for l in range(3):
                        masks[l] = masks[l] * (np.abs(p[2 * l]) > thr)
                        p[2 * l] *= masks[l]
            step(p, buf, order[s:s + 128], lr, masks)
            t += 1
    return accuracy(p), float(1 - sum(m.sum() for m in masks) / N)

seed = int(sys.argv[1])
out = {"seed": seed}
for sf in (0.9, 0.98):
    out[f"agp{sf}"], out[f"sparsity{sf}"] = run(seed, sf)
print(json.dumps(out), flush=True)
