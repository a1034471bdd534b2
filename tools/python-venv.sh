#!/usr/bin/env bash
# Creates the tools venv when missing and installs into it, from PyPI, the pinned packages it
# lacks (or has at another version). Once they are there, nothing touches the network.
# Usage: tools/python-venv.sh VENV_DIR NAME==VERSION...
#
# PyPI's torch wheel for Linux x86-64 depends on NVIDIA's CUDA wheels (about 3 GB installed);
# PyPI has no CPU-only torch, so the venv takes them and runs on the CPU.
set -euo pipefail
venv=$1; shift
if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv" >&2
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" - "$@" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for pin in sys.argv[1:]:
    name, _, wanted = pin.partition("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if wanted and have.split("+")[0] != wanted:
        sys.exit(1)
PY
then
    echo "installing into $venv: $*" >&2
    "$venv/bin/pip" install -q "$@"
fi
