# Sourced by scripts/test.sh: run CI's stages with one timing line each, and a table of them at the end.
#   stage NAME COMMAND...   runs COMMAND, prints "== NAME: ok in 12.3 s" (or "== NAME: FAILED (exit N) in ..."),
#                           records it; returns COMMAND's exit status (a caller under set -e stops there)
#   stages_report           every recorded stage again, slowest first, and the time since the first one began
# Stages run in background subshells record into the same file, so lanes that ran side by side are in the table.

_stages_file="$(mktemp)"
_stages_began="$(date +%s.%N)"

_seconds_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

stage() {
  local name="$1"; shift
  local start took rc=0
  start="$(date +%s.%N)"
  echo "== $name: starting"
  "$@" || rc=$?
  took="$(_seconds_since "$start")"
  if [ "$rc" -eq 0 ]; then
    echo "== $name: ok in $took s"
    printf '%s\t%s\t%s\n' "$took" "$name" "ok" >> "$_stages_file"
  else
    echo "== $name: FAILED (exit $rc) in $took s"
    printf '%s\t%s\t%s\n' "$took" "$name" "FAILED (exit $rc)" >> "$_stages_file"
  fi
  return "$rc"
}

stages_report() {
  echo "== stage timings (slowest first; the lanes after ruff ran side by side):"
  sort -t $'\t' -k1,1 -rn "$_stages_file" | awk -F'\t' '{ printf "   %8.1f s  %-22s %s\n", $1, $2, $3 }'
  echo "   $(_seconds_since "$_stages_began") s from the first stage's start to now"
}
