#!/usr/bin/env bash
# Install what the tests need (Python packages, Debian's chromium for the browser tests) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
export HF_HUB_OFFLINE=1
.venv/bin/python -m pytest -q "$@"
