"""Checks a model file Prune exported to ONNX against the real ecosystem.

Runs `onnx.checker.check_model(full_check=True)`, then ONNX Runtime on INPUT.npy (cast to
INT64 when the model reads token ids), and
prints one JSON line: the checker's verdict, ONNX Runtime's outputs' largest absolute
difference from EXPECTED.npy (Prune's outputs), and the argmax agreement.
Optional LABELS.npy (int) adds ONNX Runtime's accuracy.

Usage: check.py MODEL.onnx INPUT.npy EXPECTED.npy [LABELS.npy]
Needs numpy, onnx and onnxruntime (Prune's tests call it; .ci/run installs them).
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

model_path, input_path, expected_path = sys.argv[1:4]
model = onnx.load(model_path)
# full_check's shape inference types sparse initializers as sparse tensors, which no
# operator accepts; ONNX Runtime densifies them when it loads the model.
onnx.checker.check_model(model, full_check=not model.graph.sparse_initializer)
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
x = np.load(input_path)
source = session.get_inputs()[0]
if source.type == "tensor(int64)":   # token ids, which Prune keeps as floats
    x = x.astype(np.int64)
out = session.run(None, {source.name: x})[0]
expected = np.load(expected_path)
if expected.size == out.size:   # `prune predict` writes [N, outputs], flattening per-token logits
    expected = expected.reshape(out.shape)
# A sample agrees when every argmax over the last axis does (one per token for a language model).
agree = (out.argmax(-1) == expected.argmax(-1)).reshape(len(x), -1).all(1)
result = dict(checker="ok" if not model.graph.sparse_initializer else "ok (without full_check)", full_check=not model.graph.sparse_initializer, max_abs_diff=float(np.abs(out - expected).max()),
              same_argmax=int(agree.sum()), samples=int(len(x)),
              sparse_initializers=len(model.graph.sparse_initializer))
if len(sys.argv) > 4:
    labels = np.load(sys.argv[4])
    result["accuracy"] = float((out.argmax(1) == labels).mean())
print(json.dumps(result))
