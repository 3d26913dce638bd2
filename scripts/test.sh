#!/usr/bin/env bash
# Installs turkops with its test and SigLIP extras into .venv (if needed) and runs the whole suite.
# Needs: Python 3.11, a PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`), and Debian's
# chromium + chromium-driver for the browser tests (.ci/run installs/starts both).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch/torchvision pinned to the builds this machine type has on disk (no large download).
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install -q -e ".[dev,siglip]"
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
