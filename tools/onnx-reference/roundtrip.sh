#!/usr/bin/env bash
# The ONNX round trip of docs/RESULTS.md: the LeNet-5 trained in PyTorch
# (Tests/Reference/onnx/lenet5-view-opset11.onnx) is imported, pruned to 90% with
# fine-tuning, compacted and exported to ONNX by Prune; ONNX Runtime then runs the
# exported file on the Fashion-MNIST test set. Prints Prune's and ONNX Runtime's accuracy.
# Usage: tools/onnx-reference/roundtrip.sh [PYTHON] [OUT_DIR]   (PYTHON needs onnx, onnxruntime, numpy)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${1:-python3}; out=${2:-/tmp/prune-onnx-roundtrip}
prune=$root/.build/release/prune
mkdir -p "$out"
"$prune" eval "$root/Tests/Reference/onnx/lenet5-view-opset11.onnx"
"$prune" prune "$root/Tests/Reference/onnx/lenet5-view-opset11.onnx" --sparsity 0.9 --fine-tune-epochs 2 \
    --out "$out/pruned.safetensors"
"$prune" compact "$out/pruned.safetensors" --out "$out/compacted.safetensors"
"$prune" export "$out/compacted.safetensors" --format onnx --out "$out/lenet5-pruned.onnx" --evaluate
"$prune" export "$out/compacted.safetensors" --format onnx --sparse-initializers --out "$out/lenet5-pruned-sparse.onnx" --evaluate
echo "ONNX Runtime, dense initializers:  $("$python" "$here/accuracy.py" "$out/lenet5-pruned.onnx" "$out/ort-predictions.npy")"
# The same argmax, image by image: Prune's predictions on the whole test set against ONNX Runtime's.
"$python" -c "import sys; sys.path.insert(0, '$here'); import numpy as np; from fashion import images; np.save('$out/test-x.npy', images('t10k-images-idx3-ubyte'))"
"$prune" predict "$out/compacted.safetensors" --input "$out/test-x.npy" --out "$out/prune-logits.npy"
"$python" -c "import numpy as np; p = np.load('$out/prune-logits.npy').argmax(1); o = np.load('$out/ort-predictions.npy'); print(f'same argmax on {(p == o).sum()} of {len(p)} test images')"
echo "ONNX Runtime, sparse initializers: $("$python" "$here/accuracy.py" "$out/lenet5-pruned-sparse.onnx")"
