#!/usr/bin/env bash
# The main job on the embedded default, no AWS account: plan the example client offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
exec .venv/bin/phistack plan --client example --out out/plan.json "$@"
