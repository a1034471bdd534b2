"""NumPy replica of the anchor's structured run (see anchor.py): after the dense run, remove
the fraction f of fc1's and fc2's neurons with the smallest L2 row norm (torch's
ln_structured, n=2, dim=0), mask their biases, and fine-tune 3 epochs at lr 0.01."""
import sys, json
import numpy as np
from anchor import init, train, accuracy

seed = int(sys.argv[1])
p = train(init(np.random.default_rng(1000 + seed)), 10, 0.05, seed)
out = {"seed": seed}
for f in (0.5, 0.75):
    q = [x.copy() for x in p]
    masks = []
    for l in range(3):
        m = np.ones_like(q[2 * l])
        if l < 2:
            norms = np.linalg.norm(q[2 * l], axis=1)
            cut = np.argsort(norms, kind="stable")[:int(round(f * len(norms)))]
            m[cut] = 0
            q[2 * l + 1][cut] = 0
        q[2 * l] *= m
        masks.append(m)
    out[f"neuron-cut{f}"] = accuracy(q)
    # The removed neurons' biases are masked too, as in the anchor.
    out[f"neuron-ft{f}"] = accuracy(train(q, 3, 0.01, seed, masks, bias_masks=[(m[:, 0] if l < 2 else None) for l, m in enumerate(masks)]))
print(json.dumps(out), flush=True)
