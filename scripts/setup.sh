#!/usr/bin/env bash
# Create .venv inside the repository and install phistack.
#   setup.sh        everything: the gateway's model stack (CPU torch, llama.cpp), the installer, the dev tools
#   setup.sh core   the core only: plan, check, audit, reports, sandbox, demo (what scripts/demo.sh needs)
# Idempotent: re-runs only reinstall when pyproject.toml changed (a full install also satisfies core).
# Needs Python 3.11+ and the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: error: phistack needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)." >&2
  exit 2
fi
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  else
    echo "setup: error: '$PYTHON' has no venv module; install python3-venv." >&2
    exit 2
  fi
fi

mode="${1:-full}"
case "$mode" in full|core) ;; *) echo "setup: error: unknown mode '$mode' (full or core)." >&2; exit 2 ;; esac
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
full=".venv/.phistack-installed"
core=".venv/.phistack-core-installed"
installed() { [ -f "$1" ] && [ "$(cat "$1")" = "$want" ]; }
if [ "$mode" = core ]; then
  if ! installed "$full" && ! installed "$core"; then
    echo "setup: installing phistack's core into .venv (no model stack)..." >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
    echo "$want" > "$core"
  fi
  exit 0
fi
stamp="$full"
if ! installed "$stamp"; then
  echo "setup: installing phistack and its tools into .venv (first run downloads ~300 MB)..." >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  # CPU PyTorch first (a local wheel on these machines): otherwise sentence-transformers pulls a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
  # llama.cpp has no binary wheel here: build it once for portable x86-64 (about 3 minutes on 2 cores), kept in
  # ~/.cache/phistack/wheelhouse; the same wheel goes into the hosts' install bundle (infra/hosts/bundle/wheels.py).
  if ! .venv/bin/python -c 'import llama_cpp' 2>/dev/null; then
    echo "setup: building llama-cpp-python from source if not cached (about 3 minutes)..." >&2
    wheel="$(.venv/bin/python -m infra.hosts.bundle.wheels)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "llama-cpp-python[server]==0.3.36" \
      --find-links "$(dirname "$wheel")"
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
  echo "$want" > "$stamp"
fi
# Prowler's compliance frameworks, read as data by tests/compliance/test_prowler_crosswalk.py: installed without its
# dependencies into its own folder, never imported or run.
prowler="$(sed -n 's/^PROWLER_VERSION = "\(.*\)"$/\1/p' compliance/prowler.py)"
if [ ! -f ".venv/prowler-$prowler/prowler/compliance/aws/hipaa_aws.json" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --target ".venv/prowler-$prowler" \
    "prowler==$prowler"
fi
