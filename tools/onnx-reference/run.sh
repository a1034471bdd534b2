#!/usr/bin/env bash
# Creates the tools venv (torch, onnx, onnxruntime, onnxscript, numpy from PyPI) when
# missing and writes the ONNX reference models into Tests/Reference/onnx.
# Usage: tools/onnx-reference/run.sh [VENV_DIR]   (default .build-venv/tools, git-ignored)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${1:-$root/.build-venv/tools}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q numpy torch onnx onnxruntime onnxscript safetensors
fi
rm -rf "$root/Tests/Reference/onnx"
"$venv/bin/python" "$here/make.py" "$root/Tests/Reference/onnx"
