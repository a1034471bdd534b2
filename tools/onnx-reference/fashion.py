"""Fashion-MNIST from Debian's dataset-fashion-mnist, for the reference tools."""
import gzip
import os

import numpy as np

DATA = "/usr/share/datasets/fashion-mnist"


def idx(stem, offset):
    """The bytes after `offset` of IDX file `stem` (gzip or raw)."""
    for name in (stem + ".gz", stem):
        path = os.path.join(DATA, name)
        if os.path.exists(path):
            raw = (gzip.open if name.endswith(".gz") else open)(path, "rb").read()
            return np.frombuffer(raw, np.uint8, offset=offset)
    raise SystemExit(f"{stem} not found in {DATA} (Debian's dataset-fashion-mnist)")


def images(stem):
    """Images as float32 [N, 1, 28, 28], x/255."""
    return idx(stem, 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
