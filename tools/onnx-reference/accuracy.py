"""ONNX Runtime's accuracy of an ONNX classifier on the Fashion-MNIST test set (x/255,
shaped as the model's input), and its predictions as .npy when asked.

Usage: accuracy.py MODEL.onnx [PREDICTIONS_OUT.npy]
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

from fashion import idx

model_path = sys.argv[1]
model = onnx.load(model_path)
# full_check's shape inference types sparse initializers as sparse tensors, which no
# operator accepts; ONNX Runtime densifies them when it loads the model.
onnx.checker.check_model(model, full_check=not model.graph.sparse_initializer)
checker = "ok" if not model.graph.sparse_initializer else "ok (check_model without full_check: sparse initializers)"
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
shape = [d if isinstance(d, int) else -1 for d in session.get_inputs()[0].shape]
x = (idx("t10k-images-idx3-ubyte", 16).astype(np.float32) / 255).reshape([-1] + shape[1:])
y = idx("t10k-labels-idx1-ubyte", 8)
out = session.run(None, {session.get_inputs()[0].name: x})[0]
predictions = out.argmax(1)
if len(sys.argv) > 2:
    np.save(sys.argv[2], predictions.astype(np.int64))
print(json.dumps(dict(checker=checker, accuracy=float((predictions == y).mean()), samples=int(len(y)))))
