#!/usr/bin/env bash
# Everything CI checks: lint, format, types, tests. Exits non-zero on any failure.
#   bash scripts/test.sh              the whole run, as CI does
#   bash scripts/test.sh ARGS...      pytest alone with ARGS (e.g. -k aurora), after the same setup
# One timing line per stage ("== NAME: ok in N s"), a table of them at the end, pytest's 15 slowest tests per lane.
#
# How the 2 cores are shared (README, "CI: lanes"): after setup and ruff, three lanes run side by side,
#   mypy              the packages, --strict
#   pytest hosts      the tests marked `host`, one after another: each boots its own Debian 13 host (systemd-nspawn),
#                     the Molecule scenario and `phistack demo --host` converging the whole stack; two converges at
#                     once took three times as long each on this machine (measured), so they take turns
#   pytest            everything else, on one xdist worker per core, at a lower priority (nice 10): the cores are
#                     the limit here and the host lane is the longest path, so it comes first and these tests take
#                     every cycle it leaves idle
# The host tests share the Debian image and the install bundle (built once, under a lock, by whichever asks first).
# Each lane's lines carry its name; each lane ends with its own pytest summary and 15 slowest tests, and the run
# ends with the stage table and one line adding the lanes' tests up.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/stages.sh
logs="$(mktemp -d)"
reported=false
trap '$reported || stages_report; rm -rf "$logs" "$_stages_file"' EXIT
stage "system packages" bash scripts/system-deps.sh  # first: setup builds llama.cpp with its cmake and g++
stage setup bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

if [ $# -gt 0 ]; then  # a developer's selection: pytest alone, in one process, as asked
  stage pytest python -m pytest "$@"
  exit 0
fi

stage ruff sh -c 'ruff check . && ruff format --check .'

lane() {  # lane NAME COMMAND...: run in the background, every line prefixed with [NAME], exit status kept
  local name="$1"; shift
  (
    set +e
    stage "$name" "$@" 2>&1 | sed -u "s/^/[$name] /"
    echo "${PIPESTATUS[0]}" > "$logs/$name.rc"
  ) &
}
# Ctrl-C or a TERM stops every lane (background jobs of a script ignore SIGINT, and Python keeps it ignored).
trap 'trap "" INT TERM; echo "== stopped: ending every lane"; kill -TERM 0 2>/dev/null; exit 130' INT TERM
lane mypy mypy
lane "pytest hosts" python -m pytest -m host --durations=15 --junitxml="$logs/hosts.xml"
lane pytest nice -n 10 python -m pytest -m "not host" -n "$(nproc)" --durations=15 --junitxml="$logs/rest.xml"
wait

failed=0
for name in mypy "pytest hosts" pytest; do
  rc="$(cat "$logs/$name.rc" 2>/dev/null || echo 1)"
  [ "$rc" = 0 ] || { echo "== $name failed (exit $rc)"; failed=1; }
done
stages_report
reported=true
# The run's closing line, last: every lane's tests added up from their JUnit files.
python scripts/junit_total.py "$logs/hosts.xml" "$logs/rest.xml" || failed=1
exit "$failed"
