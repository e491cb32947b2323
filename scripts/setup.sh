#!/usr/bin/env bash
# Create .venv inside the repository and install phistack.
#   setup.sh        everything: the gateway's model stack (CPU torch, llama.cpp), the installer, the dev tools
#   setup.sh core   the core only: plan, check, audit, reports, sandbox, demo (what scripts/demo.sh needs)
# Idempotent: re-runs only reinstall when pyproject.toml changed (a full install also satisfies core).
# Needs Python 3.11+ and the package registries.
#
# The installer is uv (from the registry, kept once per machine under ~/.cache/phistack): it resolves, downloads and
# unpacks in parallel, several times faster than pip on a fresh machine. It is told where this machine's pip installs
# from (scripts/uv_env.py), so both pick the same releases. PHISTACK_INSTALLER=pip, or a machine where uv cannot be
# had, installs with pip instead: same packages, slower.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
UV_VERSION="0.13.9"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: error: phistack needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)." >&2
  exit 2
fi

mode="${1:-full}"
case "$mode" in full|core) ;; *) echo "setup: error: unknown mode '$mode' (full or core)." >&2; exit 2 ;; esac
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
full=".venv/.phistack-installed"
core=".venv/.phistack-core-installed"
installed() { [ -f "$1" ] && [ "$(cat "$1")" = "$want" ]; }
if installed "$full" || { [ "$mode" = core ] && installed "$core"; }; then
  need_install=false
else
  need_install=true
fi

# uv, once per machine: a static binary from the registry, installed with the system Python's pip.
uv=""
if [ "${PHISTACK_INSTALLER:-uv}" = uv ]; then
  tools="${XDG_CACHE_HOME:-$HOME/.cache}/phistack/uv-$UV_VERSION"
  if [ ! -x "$tools/bin/uv" ] && $need_install; then
    mkdir -p "$(dirname "$tools")"
    staging="$(mktemp -d "$tools.partial.XXXXXX")"  # its own folder: two first runs at once never share one
    if "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-warn-script-location --target "$staging" \
        "uv==$UV_VERSION" >/dev/null 2>&1; then
      mv -T "$staging" "$tools" 2>/dev/null || rm -rf "$staging"  # another run put it there first: keep theirs
    else
      rm -rf "$staging"
      echo "setup: uv $UV_VERSION could not be installed from the registry; installing with pip (slower)." >&2
    fi
  fi
  if [ -x "$tools/bin/uv" ]; then
    # pip's index, find-links, constraints and certificate in uv's words; a setting uv would not follow: pip.
    if said="$("$PYTHON" scripts/uv_env.py)"; then
      eval "$said"
      uv="$tools/bin/uv"
    else
      echo "setup: installing with pip, which is configured in a way uv would not follow." >&2
    fi
  fi
fi

if [ ! -x .venv/bin/python ]; then
  if [ -n "$uv" ]; then
    # --seed: pip inside (the bundle's wheel builds call it); --clear: a half-made .venv from an interrupted run
    "$uv" venv --quiet --seed --clear --python "$PYTHON" .venv
  else
    if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
      if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      else
        echo "setup: error: '$PYTHON' has no venv module; install python3-venv." >&2
        exit 2
      fi
    fi
    "$PYTHON" -m venv --clear .venv
  fi
fi

# install ARGS...: into .venv, with uv where it is, else pip; every find-links folder pip is configured with, too.
install() {
  local links=()
  local folder
  for folder in ${PHISTACK_FIND_LINKS:-}; do links+=(--find-links "$folder"); done
  if [ -n "$uv" ]; then
    "$uv" pip install --quiet --python .venv/bin/python "${links[@]}" "$@"
  else
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@"
  fi
}

if $need_install && [ "$mode" = core ]; then
  echo "setup: installing phistack's core into .venv (no model stack)..." >&2
  install -e .
  echo "$want" > "$core"
elif $need_install; then
  echo "setup: installing phistack and its tools into .venv (first run downloads ~300 MB)..." >&2
  # llama.cpp has no binary wheel here: build it once for portable x86-64 (about 3 minutes on 2 cores), kept in
  # ~/.cache/phistack/wheelhouse; the same wheel goes into the hosts' install bundle (infra/hosts/bundle/wheels.py).
  compgen -G "${XDG_CACHE_HOME:-$HOME/.cache}/phistack/wheelhouse/llama_cpp_python-*.whl" >/dev/null ||
    echo "setup: building llama-cpp-python from source (about 3 minutes, once per machine)..." >&2
  wheel="$(.venv/bin/python -m infra.hosts.bundle.wheels)"
  # CPU PyTorch pinned beside the rest (a local wheel on these machines): otherwise sentence-transformers pulls a
  # multi-GB CUDA build.
  install -e ".[dev]" "torch==2.13.0" --find-links "$(dirname "$wheel")"
  echo "$want" > "$full"
fi
# Prowler's compliance frameworks, read as data by tests/compliance/test_prowler_crosswalk.py: installed without its
# dependencies into its own folder, never imported or run.
if [ "$mode" = full ]; then
  prowler="$(sed -n 's/^PROWLER_VERSION = "\(.*\)"$/\1/p' compliance/prowler.py)"
  if [ ! -f ".venv/prowler-$prowler/prowler/compliance/aws/hipaa_aws.json" ]; then
    install --no-deps --target ".venv/prowler-$prowler" "prowler==$prowler"
  fi
fi
