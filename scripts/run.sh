#!/usr/bin/env bash
# Install, build the index from corpus/ on first use, and start the assistant.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export HF_HUB_OFFLINE=1
if [ -f app.py ]; then
  exec .venv/bin/python app.py "$@"
fi
exec .venv/bin/rag ask "${1:-Hoeveel militaire steun heeft Nederland aan Oekraïne geleverd?}"
