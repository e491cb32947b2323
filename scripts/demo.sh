#!/usr/bin/env bash
# The main job on the embedded default, no AWS account: emulated AWS (moto) started on 127.0.0.1, the example
# client's real Pulumi program applied to it, audited live against every control, and the signed report
# bundle written to out/demo (HTML, PDF, OSCAL, JUnit, evidence). The emulator is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh demo  # chromium for the PDF, nothing else
bash scripts/setup.sh core  # the core only: no torch, no llama.cpp, no Ansible (bash scripts/setup.sh adds them)
exec .venv/bin/phistack demo --client example --out out/demo "$@"
