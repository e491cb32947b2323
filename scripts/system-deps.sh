#!/usr/bin/env bash
# Debian packages the tests need beyond Python: Chromium prints report.pdf (headless); cmake and g++ build
# llama.cpp (llama-cpp-python has no binary wheel for this platform).
# Installs only what is missing, and only where it can (root with apt-get); otherwise says what to install.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${missing[*]} (Debian packages)..." >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "system-deps: please install: ${missing[*]} (without chromium the PDF test is skipped; without cmake and g++ setup cannot build llama.cpp)." >&2
fi
