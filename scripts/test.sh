#!/usr/bin/env bash
# Installs turkops with its test and SigLIP extras into .venv (if needed), makes the services the
# suite needs available, and runs the whole suite.
# Needs: Python 3.11. PostgreSQL: TURKOPS_TEST_PG_URL (default 127.0.0.1:5432, database `test`) if
# one answers there, else a throwaway cluster in a temporary folder, removed on exit. Browser
# tests: Debian's chromium + chromium-driver. Missing packages are installed with apt-get when run
# as root (scripts/test_services.sh); where that is impossible the script says why in one line and
# fails, so no database or browser test is ever skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  # Debian's python3 lacks venv/ensurepip until python3-venv is installed.
  if ! "$PY" -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    bash scripts/test_services.sh python-venv
    "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch/torchvision pinned to the builds this machine type has on disk (no large download).
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install -q -e ".[dev,siglip]"

SERVICES_DIR=$(mktemp -d -t turkops-test-services.XXXXXX)
trap 'PYTHON=.venv/bin/python bash scripts/test_services.sh postgres-stop "$SERVICES_DIR"; rm -rf "$SERVICES_DIR"' EXIT
export PYTHON=.venv/bin/python
TURKOPS_TEST_PG_URL=$(bash scripts/test_services.sh postgres-ensure "$SERVICES_DIR")
export TURKOPS_TEST_PG_URL
bash scripts/test_services.sh browser

export HF_HUB_OFFLINE=1
# Not exec: the trap must stop a throwaway PostgreSQL after the tests.
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
