"""Writes the ONNX reference models Prune's tests compare against.

Dev tooling, not part of Prune. Run through `tools/onnx-reference/run.sh`, which
creates a venv with torch, onnx, onnxruntime, onnxscript and numpy from PyPI.

Every model here is written the way a user writes it: a PyTorch module exported with
`torch.onnx.export` (the TorchScript exporter and the torch.export-based one), at
several opsets. Beside each model.onnx: `<name>.out.npy`, ONNX Runtime's outputs for
the shared inputs (`inputs-flat.npy` [16, 784], `inputs-image.npy` [16, 1, 28, 28]:
the first 16 Fashion-MNIST test images, x/255). `manifest.json` lists each model with
its input file, ops and opset. Variants built with the onnx package: F16 and BF16
initializers (reference: the F32 model with the weights rounded), typed-field
initializers, external data and an unknown opset (both must be refused), an LSTM
(unsupported op).

Usage: make.py OUT_DIR
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

from fashion import idx, images

OUT = sys.argv[1]
torch.manual_seed(0)
np.random.seed(0)


IMAGES = images("t10k-images-idx3-ubyte")[:16]
FLAT = IMAGES.reshape(16, 784)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 16), nn.Linear(16, 16), nn.Linear(16, 10)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class MLPMatMul(MLP):
    """Linear written as a product with the transposed weight: the exporter folds the
    transpose into a pre-transposed initializer, giving MatMul + Add; the second layer
    puts the bias first."""

    def forward(self, x):
        x = F.relu(torch.matmul(x, self.fc1.weight.t()) + self.fc1.bias)
        x = torch.tanh(self.fc2.bias + torch.matmul(x, self.fc2.weight.t()))
        return torch.matmul(x, self.fc3.weight.t())


class MLPSoftmax(MLP):
    def forward(self, x):
        x = torch.sigmoid(self.fc1(x))
        x = F.leaky_relu(self.fc2(x), 0.1)
        return F.softmax(self.fc3(x), dim=1)


class LeNet5(nn.Module):
    """LeNet-5 as Prune builds it; the flatten is `x.view(-1, 400)`."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, 400)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def trained_lenet5(epochs=2):
    """LeNet-5 trained on Fashion-MNIST the usual PyTorch way (Adam, batch 128), for the
    import → prune → export → ONNX Runtime round trip."""
    x = torch.from_numpy(images("train-images-idx3-ubyte"))
    y = torch.from_numpy(idx("train-labels-idx1-ubyte", 8).astype(np.int64))
    model = LeNet5()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(128):
            optimizer.zero_grad()
            F.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    model.eval()
    tx = torch.from_numpy(images("t10k-images-idx3-ubyte"))
    ty = idx("t10k-labels-idx1-ubyte", 8).astype(np.int64)
    with torch.no_grad():
        accuracy = float((model(tx).argmax(1).numpy() == ty).mean())
    return model, accuracy


class Zoo(nn.Module):
    """Every other op Prune imports: BatchNorm (after ReLU, so the exporter does not
    fold it into the convolution), LeakyReLU, a depthwise and a dilated convolution,
    strides, a residual Add, a Concat of two branches, average pooling, GELU, Dropout,
    global average pooling, Flatten, a BatchNorm over features and LogSoftmax."""

    def __init__(self, gelu=True):
        super().__init__()
        self.gelu = gelu
        self.stem = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.dilated = nn.Conv2d(8, 8, 3, padding=2, dilation=2, bias=False)
        self.branch_a = nn.Conv2d(8, 4, 1)
        self.branch_b = nn.Conv2d(8, 6, 3, stride=2, padding=1)
        self.pool_a = nn.MaxPool2d(2)
        self.bn2 = nn.BatchNorm2d(10)
        self.drop = nn.Dropout(0.3)
        self.fc1 = nn.Linear(10, 16)
        self.bn3 = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 10)
        for bn in (self.bn1, self.bn2, self.bn3):   # statistics that matter
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)

    def forward(self, x):
        x = self.bn1(F.relu(self.stem(x)))
        y = F.leaky_relu(self.depthwise(x), 0.2)
        x = x + torch.sigmoid(self.dilated(y))
        x = torch.cat([self.pool_a(self.branch_a(x)), torch.tanh(self.branch_b(x))], dim=1)
        x = F.avg_pool2d(x, 2)
        x = self.bn2(F.relu(x))
        x = F.gelu(x) if self.gelu else F.relu(x)
        x = torch.flatten(F.adaptive_avg_pool2d(self.drop(x), 1), 1)
        x = self.bn3(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(28, 16, batch_first=True)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        out, _ = self.lstm(x.view(-1, 28, 28))
        return self.fc(out[:, -1])


manifest = []


def run_ort(path, x):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def export(name, module, x, opset, dynamo, check=True):
    module.eval()
    path = os.path.join(OUT, name + ".onnx")
    kwargs = dict(input_names=["input"], output_names=["output"], opset_version=opset, dynamo=dynamo)
    if dynamo:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("N", min=1, max=1024)},)
    else:
        kwargs["dynamic_axes"] = {"input": {0: "N"}, "output": {0: "N"}}
    torch.onnx.export(module, (torch.from_numpy(x[:2]),), path, **kwargs)
    model = onnx.load(path)
    if dynamo:   # the new exporter may keep weights outside; store them inside
        onnx.save(model, path)
    if check:
        onnx.checker.check_model(model, full_check=True)
    record(name, model, path, x)
    with torch.no_grad():
        torch_out = module(torch.from_numpy(x)).numpy()
    ort_out = np.load(os.path.join(OUT, name + ".out.npy"))
    assert np.abs(torch_out - ort_out).max() < 1e-4, name
    return path


def record(name, model, path, x, reference=None):
    out = reference if reference is not None else run_ort(path, x)
    np.save(os.path.join(OUT, name + ".out.npy"), out.astype(np.float32))
    opset = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    manifest.append(dict(name=name, input="inputs-flat.npy" if x.ndim == 2 else "inputs-image.npy",
                         ops=sorted({n.op_type for n in model.graph.node}), opset=opset[0] if opset else None,
                         bytes=os.path.getsize(path)))


def variant(name, base, x, initializer_dtype):
    """The base model with initializers stored as F16, BF16 or typed float fields. The
    reference is the F32 model with the weights rounded the same way."""
    model = onnx.load(os.path.join(OUT, base + ".onnx"))
    rounded = onnx.load(os.path.join(OUT, base + ".onnx"))
    for tensor, twin in zip(model.graph.initializer, rounded.graph.initializer):
        if tensor.data_type != onnx.TensorProto.FLOAT:
            continue
        array = numpy_helper.to_array(tensor)
        if initializer_dtype == "f16":
            half = array.astype(np.float16)
            tensor.CopyFrom(numpy_helper.from_array(half, tensor.name))
            twin.CopyFrom(numpy_helper.from_array(half.astype(np.float32), tensor.name))
        elif initializer_dtype == "bf16":
            bits = (array.view(np.uint32) + 0x7FFF + ((array.view(np.uint32) >> 16) & 1)) >> 16   # round to nearest even
            bf = onnx.TensorProto(name=tensor.name, data_type=onnx.TensorProto.BFLOAT16, dims=array.shape,
                                  raw_data=bits.astype(np.uint16).tobytes())
            tensor.CopyFrom(bf)
            twin.CopyFrom(numpy_helper.from_array((bits.astype(np.uint32) << 16).view(np.float32), tensor.name))
        elif initializer_dtype == "fields":
            tensor.ClearField("raw_data")
            tensor.float_data.extend(array.flatten().tolist())
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(model, path)
    rounded_path = os.path.join(OUT, name + ".rounded.tmp.onnx")
    onnx.save(rounded, rounded_path)
    record(name, model, path, x, reference=run_ort(rounded_path, x))
    os.remove(rounded_path)


def main():
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "inputs-flat.npy"), FLAT)
    np.save(os.path.join(OUT, "inputs-image.npy"), IMAGES)
    export("mlp-gemm-opset17", MLP(), FLAT, 17, dynamo=False)
    export("mlp-gemm-dynamo-opset18", MLP(), FLAT, 18, dynamo=True)
    export("mlp-matmul-opset13", MLPMatMul(), FLAT, 13, dynamo=False)
    export("mlp-softmax-opset11", MLPSoftmax(), FLAT, 11, dynamo=False)
    lenet5, accuracy = trained_lenet5()
    export("lenet5-view-opset11", lenet5, IMAGES, 11, dynamo=False)
    manifest[-1]["pytorch_test_accuracy"] = accuracy
    export("lenet5-view-dynamo-opset18", LeNet5(), IMAGES, 18, dynamo=True)
    export("zoo-opset13", Zoo(gelu=False), IMAGES, 13, dynamo=False)
    export("zoo-gelu-opset20", Zoo(), IMAGES, 20, dynamo=False)
    export("zoo-gelu-dynamo-opset20", Zoo(), IMAGES, 20, dynamo=True)
    variant("mlp-gemm-f16", "mlp-gemm-opset17", FLAT, "f16")
    variant("mlp-gemm-bf16", "mlp-gemm-opset17", FLAT, "bf16")
    variant("zoo-fields", "zoo-opset13", IMAGES, "fields")
    # Refused: an unsupported op, weights in an external file, an opset from the future.
    export("lstm-opset13", LSTMNet(), IMAGES, 13, dynamo=False)
    model = onnx.load(os.path.join(OUT, "mlp-gemm-opset17.onnx"))
    onnx.save(model, os.path.join(OUT, "external-data.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="external-data.weights", size_threshold=0)
    os.remove(os.path.join(OUT, "external-data.weights"))   # refused before it is read
    model = onnx.load(os.path.join(OUT, "mlp-gemm-opset17.onnx"))
    model.opset_import[0].version = 99
    onnx.save(model, os.path.join(OUT, "opset99.onnx"))
    for extra in [f for f in os.listdir(OUT) if f.endswith(".data")]:
        os.remove(os.path.join(OUT, extra))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(dict(torch=torch.__version__, onnx=onnx.__version__, onnxruntime=ort.__version__,
                       models=manifest), f, indent=1)
    for m in manifest:
        print(f"{m['name']:28} opset {m['opset']}  {m['bytes']:7} bytes  {' '.join(m['ops'])}")


main()
