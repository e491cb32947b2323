#!/usr/bin/env bash
# Regenerate docs/images/report-first-page.png: the example client's pre-deploy report, first page,
# rendered by headless Chromium from the project's own `phistack check`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-deps.sh
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
PHISTACK_KEY_DIR="$out/keys" .venv/bin/phistack check --client example --no-pdf --out "$out/bundle" >/dev/null
mkdir -p docs/images
"$(command -v chromium-headless-shell || command -v chromium)" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$out/profile" --hide-scrollbars \
  --window-size=1000,1280 --screenshot="$PWD/docs/images/report-first-page.png" "file://$out/bundle/report.html" 2>/dev/null
echo "wrote docs/images/report-first-page.png"
