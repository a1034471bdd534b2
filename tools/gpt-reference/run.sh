#!/usr/bin/env bash
# Creates or reuses the tools venv (torch, transformers, safetensors, numpy from PyPI) and writes
# the tiny GPT-2 references Tests/Reference/gpt2-tiny and gpt2-tiny-untied (a few seconds,
# offline once the venv is there). The gpt-tiny training recipe is run by hand: see README.md.
# Usage: tools/gpt-reference/run.sh [VENV_DIR]   (default .build-venv/tools, git-ignored)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${1:-$root/.build-venv/tools}
"$root/tools/python-venv.sh" "$venv" torch==2.15.0 transformers==5.24.0 safetensors==0.8.0 numpy==2.4.6
rm -rf "$root/Tests/Reference/gpt2-tiny" "$root/Tests/Reference/gpt2-tiny-untied"
HF_HUB_OFFLINE=1 "$venv/bin/python" "$here/make_gpt2_reference.py" "$root/Tests/Reference"
