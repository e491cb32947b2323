#!/bin/bash
# phistack: first-boot bootstrap of a GPU host (cloud-init user data), rendered by infra/bootstrap.py.
# The host has no internet egress. It installs one thing, the SSM agent (Ansible arrives through SSM; everything
# else comes later from the verified offline bundle), from AWS's regional bucket through the stack's S3 gateway
# endpoint, and only if the package's OpenPGP signature verifies against AWS's SSM Agent signing key, embedded
# below. Otherwise nothing is installed and the host stays unmanaged: it fails closed. No PHI is involved.
set -euo pipefail
exec >>/var/log/phistack-bootstrap.log 2>&1
echo "phistack bootstrap started $(date -u +%FT%TZ)"

readonly AGENT_URL="@AGENT_URL@"
WORK="$(mktemp -d)"
readonly WORK
trap 'rm -rf "$WORK"' EXIT

cat >"$WORK/aws-ssm-agent.asc" <<'KEYRING'
@KEYRING@
KEYRING

# fetch URL FILE: HTTPS only, the system's CAs, a bounded time; Python because every Debian cloud image has it
# (cloud-init is Python), unlike curl or wget.
fetch() {
  python3 - "$1" "$2" <<'PY'
import shutil, ssl, sys, urllib.request
url, path = sys.argv[1], sys.argv[2]
if not url.startswith("https://"):
    sys.exit(f"refusing a non-HTTPS URL: {url}")
with urllib.request.urlopen(url, timeout=60, context=ssl.create_default_context()) as answer:
    with open(path, "wb") as out:
        shutil.copyfileobj(answer, out)
PY
}

# verify FILE SIGNATURE: sqv is Debian 13's OpenPGP verifier (apt depends on it); it checks the signature and
# the key's validity when the signature was made.
verify() {
  sqv --keyring "$WORK/aws-ssm-agent.asc" "$2" "$1" >/dev/null
}

for attempt in 1 2 3 4 5 6; do
  if fetch "$AGENT_URL" "$WORK/agent.deb" && fetch "$AGENT_URL.sig" "$WORK/agent.deb.sig"; then
    break
  fi
  if [ "$attempt" -eq 6 ]; then
    echo "phistack bootstrap: could not download the SSM agent; giving up"
    exit 1
  fi
  sleep $((attempt * 10))
done

if ! verify "$WORK/agent.deb" "$WORK/agent.deb.sig"; then
  echo "phistack bootstrap: the SSM agent's signature does not verify against AWS's key; not installed"
  exit 1
fi
dpkg -i "$WORK/agent.deb"
systemctl enable --now amazon-ssm-agent
echo "phistack bootstrap: SSM agent installed and started"
