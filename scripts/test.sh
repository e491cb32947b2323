#!/usr/bin/env bash
# Everything CI checks: lint, format, types, tests. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh  # first: setup builds llama.cpp with its cmake and g++
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff" && ruff check . && ruff format --check .
echo "== mypy --strict" && mypy
echo "== pytest" && python -m pytest "$@"
