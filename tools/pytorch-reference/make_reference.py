"""Writes the PyTorch reference files Prune's tests compare against (Tests/Reference/pytorch/).

- keys.json: the state-dict keys, shapes and dtypes (safetensors names) of the PyTorch modules
  equivalent to Prune's lenet300, lenet5 and resnet8 (1x28x28 inputs, 10 classes) and mlp 784-16-10;
- inputs.npy: 16 Fashion-MNIST test images, float32 [16, 1, 28, 28] in [0, 1];
- <name>.safetensors: a state dict written by safetensors.torch.save_file, and <name>.outputs.npy:
  the module's outputs (eval mode, float32) on inputs.npy. For F16/BF16 state dicts the outputs
  are those of the float32 module holding the rounded weights.

Usage: make_reference.py [OUT_DIR] (default: ../../Tests/Reference/pytorch next to this file).
"""
import gzip
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

from modules import MLP, LeNet5, ResNet8

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "Tests", "Reference", "pytorch")
DATA = os.environ.get("PRUNE_DATA", "/usr/share/datasets/fashion-mnist")
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def test_images(count):
    with gzip.open(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return (raw[: count * 784].reshape(count, 1, 28, 28).astype(np.float32) / 255).copy()


def key_list(module):
    return [{"name": k, "shape": list(v.shape), "dtype": DTYPES[v.dtype]} for k, v in module.state_dict().items()]


def write(name, module, dtype, inputs):
    """Saves module's state dict in dtype (integers stay int64) and the outputs of its rounded weights."""
    state = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in module.state_dict().items()}
    save_file(state, os.path.join(OUT, f"{name}.safetensors"))
    module.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    module.eval()
    with torch.no_grad():
        y = module(torch.from_numpy(inputs)).numpy().astype(np.float32)
    np.save(os.path.join(OUT, f"{name}.outputs.npy"), y)
    print(f"{name}: {len(state)} tensors, {os.path.getsize(os.path.join(OUT, name + '.safetensors'))} bytes, "
          f"outputs {list(y.shape)}")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    inputs = test_images(16)
    np.save(os.path.join(OUT, "inputs.npy"), inputs)

    lenet300, lenet5, resnet8, mlp16 = MLP([784, 300, 100, 10]), LeNet5(), ResNet8(), MLP([784, 16, 10])
    keys = {"lenet300": key_list(lenet300), "lenet5": key_list(lenet5), "resnet8": key_list(resnet8),
            "mlp-784-16-10": key_list(mlp16)}
    with open(os.path.join(OUT, "keys.json"), "w") as f:   # one tensor a line
        f.write("{\n" + ",\n".join(
            f'  "{name}": [\n' + ",\n".join("    " + json.dumps(e) for e in entries) + "\n  ]"
            for name, entries in keys.items()) + "\n}\n")

    # Training-mode passes move resnet8's running statistics and count num_batches_tracked (3).
    resnet8.train()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(3):
            resnet8(torch.rand(8, 1, 28, 28, generator=generator))

    write("mlp16-f32", mlp16, torch.float32, inputs)
    write("mlp16-bf16", mlp16, torch.bfloat16, inputs)
    write("lenet5-f16", lenet5, torch.float16, inputs)
    write("resnet8-bf16", resnet8, torch.bfloat16, inputs)


if __name__ == "__main__":
    main()
