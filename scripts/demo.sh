#!/usr/bin/env bash
# The main job on the embedded default, no AWS account: emulated AWS (moto) started on 127.0.0.1, the example
# client's real Pulumi program applied to it, audited live against every control, and the signed report
# bundle written to out/demo (HTML, PDF, OSCAL, JUnit, evidence). The emulator is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh  # first: setup builds llama.cpp with its cmake and g++
bash scripts/setup.sh
exec .venv/bin/phistack demo --client example --out out/demo "$@"
