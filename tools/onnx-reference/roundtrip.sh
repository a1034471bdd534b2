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
echo "ONNX Runtime, dense initializers:  $("$python" "$here/accuracy.py" "$out/lenet5-pruned.onnx")"
echo "ONNX Runtime, sparse initializers: $("$python" "$here/accuracy.py" "$out/lenet5-pruned-sparse.onnx")"
