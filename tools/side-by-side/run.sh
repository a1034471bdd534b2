#!/usr/bin/env bash
# Prune against PyTorch on this machine, in alternating turns: one table of ratios (issue #17).
# Creates or reuses the tools venv (torch, safetensors, numpy from PyPI), builds the release
# binary, then runs side_by_side.py with the arguments given (e.g. --rounds 3 --only spmm train).
# Usage: tools/side-by-side/run.sh [side_by_side.py options]   (venv: .build-venv/tools, git-ignored)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=$root/.build-venv/tools
"$root/tools/python-venv.sh" "$venv" torch==2.15.0 transformers==5.24.0 safetensors==0.8.0 numpy==2.4.6 sentence-transformers==6.2.0
cd "$root"
make build
"$venv/bin/python" -W ignore::UserWarning "$here/side_by_side.py" --prune "$root/.build/release/prune" "$@"
