"""PyTorch modules equivalent to Prune's built-in architectures, and to any Prune graph spec.

The attribute names are Prune's node names (Sources/NeuralNetwork/Architectures.swift), so
the state-dict keys are Prune's parameter paths: `fc1.weight`, `block2_proj_bn.running_var`.
"""
import json

import torch
from torch import nn


class MLP(nn.Module):
    """Prune's `mlp` (and `lenet300` = sizes [784, 300, 100, 10]): flatten, then fc1..fcK with ReLU between."""

    def __init__(self, sizes):
        super().__init__()
        self.count = len(sizes) - 1
        for i in range(1, len(sizes)):
            setattr(self, f"fc{i}", nn.Linear(sizes[i - 1], sizes[i]))

    def forward(self, x):
        x = x.flatten(1)
        for i in range(1, self.count + 1):
            x = getattr(self, f"fc{i}")(x)
            if i < self.count:
                x = torch.relu(x)
        return x


class LeNet5(nn.Module):
    """Prune's `lenet5`: conv 6@5x5 pad 2, ReLU, max-pool 2; conv 16@5x5, ReLU, max-pool 2; 400-120-84-classes."""

    def __init__(self, channels=1, classes=10, size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        side = (size // 2 - 4) // 2
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class ResNet8(nn.Module):
    """Prune's `resnet8`: 3x3 stem of 16 channels + BatchNorm, three basic blocks (16, 32, 64 channels; the
    last two stride 2 with 1x1 projection shortcuts), global average pooling, a linear classifier."""

    def __init__(self, channels=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.plan = []
        cin = 16
        for i, (width, stride) in enumerate([(16, 1), (32, 2), (64, 2)], start=1):
            p = f"block{i}"
            setattr(self, f"{p}_conv1", nn.Conv2d(cin, width, 3, stride=stride, padding=1, bias=False))
            setattr(self, f"{p}_bn1", nn.BatchNorm2d(width))
            setattr(self, f"{p}_conv2", nn.Conv2d(width, width, 3, padding=1, bias=False))
            setattr(self, f"{p}_bn2", nn.BatchNorm2d(width))
            projected = stride != 1 or width != cin
            if projected:
                setattr(self, f"{p}_proj", nn.Conv2d(cin, width, 1, stride=stride, bias=False))
                setattr(self, f"{p}_proj_bn", nn.BatchNorm2d(width))
            self.plan.append((p, projected))
            cin = width
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        for p, projected in self.plan:
            y = torch.relu(getattr(self, f"{p}_bn1")(getattr(self, f"{p}_conv1")(x)))
            y = getattr(self, f"{p}_bn2")(getattr(self, f"{p}_conv2")(y))
            s = getattr(self, f"{p}_proj_bn")(getattr(self, f"{p}_proj")(x)) if projected else x
            x = torch.relu(y + s)
        return self.fc(x.mean(dim=(2, 3)))


class SpecModule(nn.Module):
    """Any Prune graph spec (`prune.architecture` metadata, or a `--model SPEC.json` file) as a PyTorch module.

    Layers with parameters become submodules named as Prune's nodes; the rest run as functions.
    """

    def __init__(self, spec):
        super().__init__()
        self.spec = spec
        for node in spec["nodes"]:
            s, name = node["layer"], node["name"]
            kind = s["kind"]
            if kind == "dense":
                self.add_module(name, nn.Linear(s["inFeatures"], s["outFeatures"], bias=s.get("bias", True)))
            elif kind == "conv2d":
                self.add_module(name, nn.Conv2d(s["inChannels"], s["outChannels"], s["kernelSize"],
                                                stride=s.get("stride", 1), padding=s.get("padding", 0),
                                                bias=s.get("bias", True)))
            elif kind == "batchNorm":
                # Prune's rank-1 inputs ([N, C]) use BatchNorm1d; both have the same state dict.
                self.add_module(name, nn.BatchNorm2d(s["features"], eps=s.get("epsilon", 1e-5),
                                                     momentum=s.get("momentum", 0.1)))

    def forward(self, x):
        values = {"input": x}
        out = x
        for node in self.spec["nodes"]:
            s, name = node["layer"], node["name"]
            kind = s["kind"]
            args = [values[i] for i in node["inputs"]]
            a = args[0]
            if kind in ("dense", "conv2d"):
                out = getattr(self, name)(a)
            elif kind == "batchNorm":
                bn = getattr(self, name)
                out = bn(a) if a.dim() == 4 else nn.functional.batch_norm(
                    a, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
            elif kind == "relu":
                out = torch.relu(a)
            elif kind == "leakyRelu":
                out = nn.functional.leaky_relu(a, s.get("negativeSlope", 0.01))
            elif kind == "tanh":
                out = torch.tanh(a)
            elif kind == "sigmoid":
                out = torch.sigmoid(a)
            elif kind == "maxPool2d":
                out = nn.functional.max_pool2d(a, s["kernelSize"], s.get("stride") or s["kernelSize"])
            elif kind == "avgPool2d":
                out = nn.functional.avg_pool2d(a, s["kernelSize"], s.get("stride") or s["kernelSize"])
            elif kind == "globalAvgPool":
                out = a.mean(dim=(2, 3))
            elif kind == "flatten":
                out = a.flatten(1)
            elif kind == "dropout":
                out = a
            elif kind == "add":
                out = sum(args[1:], args[0])
            else:
                raise ValueError(f"node {name}: layer kind {kind} has no PyTorch equivalent here")
            values[name] = out
        return out


def from_spec_json(text):
    """The module for a Prune graph spec given as JSON text."""
    return SpecModule(json.loads(text))
