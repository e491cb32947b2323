"""The GPU hosts' first-boot script run for real on a Debian 13 host (phistack/testhost/nspawn.py): it fetches the agent
over HTTPS, checks its OpenPGP signature with Debian's sqv, installs and starts it; a package whose signature does
not verify is never installed. AWS's bucket and key cannot be reached here, so the test serves a package named
amazon-ssm-agent that it built and signed itself (a stand-in, not AWS's agent) from this machine's side of the
host's veth, over TLS with a certificate from a throwaway CA, and renders the script with that URL and its key."""

from __future__ import annotations

import http.server
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.bootstrap import user_data
from infra.hosts import ca
from phistack.testhost import nspawn

pytestmark = [
    pytest.mark.host,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("systemd-nspawn") is None or shutil.which("gpg") is None,
        reason="needs root, systemd-nspawn and gpg",
    ),
]
PATH = "/amazon-ssm-test/latest/debian_amd64"


def _package(folder: Path) -> Path:
    """A stand-in amazon-ssm-agent .deb whose unit just sleeps."""
    root = folder / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        "Package: amazon-ssm-agent\nVersion: 0.0.1-phistack-test\nArchitecture: all\nMaintainer: phistack tests\n"
        "Description: stand-in for AWS's SSM agent (tests only)\n"
    )
    unit = root / "lib" / "systemd" / "system" / "amazon-ssm-agent.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n")
    deb = folder / "amazon-ssm-agent.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(root), str(deb)], capture_output=True, check=True)
    return deb


def _signer(folder: Path) -> tuple[dict[str, str], str]:
    """A throwaway OpenPGP signing key: gpg's environment and the armored public key."""
    home = folder / "gnupg"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "phistack test <test@phistack.invalid>",
         "ed25519", "sign", "never"],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    public = subprocess.run(["gpg", "--armor", "--export"], env=env, capture_output=True, text=True, check=True)
    return env, public.stdout


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[nspawn.Host, Path, str, str]]:
    """A booted Debian 13 host, the folder this machine serves to it over TLS, its URL, and the CA to trust."""
    host = nspawn.up("bootstrap1")
    webroot = tmp_path / "web"
    (webroot / PATH.lstrip("/")).mkdir(parents=True)
    authority = ca.new_ca("bootstrap-test")
    issued = ca.issue(authority, "s3-stand-in", [], [host.gateway], ["server"])
    (tmp_path / "cert.pem").write_text(issued.cert_pem)
    (tmp_path / "key.pem").write_text(issued.key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(webroot), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host.gateway, 0), Quiet)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://{host.gateway}:{server.server_address[1]}{PATH}/amazon-ssm-agent.deb"
    try:
        yield host, webroot / PATH.lstrip("/"), url, authority.cert_pem
    finally:
        server.shutdown()
        server.server_close()
        nspawn.down("bootstrap1")


def _on_host(host: nspawn.Host, command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", *host.ssh_args(), f"root@{host.address}", command],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_script_installs_only_a_package_whose_signature_verifies(
    tmp_path: Path, served: tuple[nspawn.Host, Path, str, str]
) -> None:
    host, folder, url, trust = served
    deb = _package(tmp_path)
    env, public_key = _signer(tmp_path)
    subprocess.run(["gpg", "--batch", "--detach-sign", "--output", str(folder / "amazon-ssm-agent.deb.sig"),
                    str(deb)], env=env, capture_output=True, check=True)  # fmt: skip
    script = user_data("us-east-1", agent_url=url, signing_key=public_key)
    assert _on_host(host, "cat > /root/ca.pem", trust).returncode == 0
    assert _on_host(host, "cat > /root/user-data.sh", script).returncode == 0
    run = "SSL_CERT_FILE=/root/ca.pem bash /root/user-data.sh; echo rc=$?; cat /var/log/phistack-bootstrap.log"

    tampered = bytearray(deb.read_bytes())
    tampered[-1] ^= 1  # one bit of the package changed after signing
    (folder / "amazon-ssm-agent.deb").write_bytes(bytes(tampered))
    refused = _on_host(host, run).stdout
    assert "rc=1" in refused and "signature does not verify against AWS's key; not installed" in refused
    assert _on_host(host, "dpkg -s amazon-ssm-agent").returncode != 0  # nothing installed

    shutil.copy(deb, folder / "amazon-ssm-agent.deb")
    installed = _on_host(host, f"rm -f /var/log/phistack-bootstrap.log; {run}").stdout
    assert "rc=0" in installed and "SSM agent installed and started" in installed, installed
    assert "Status: install ok installed" in _on_host(host, "dpkg -s amazon-ssm-agent").stdout
    assert _on_host(host, "systemctl is-active amazon-ssm-agent").stdout.strip() == "active"
    assert _on_host(host, "systemctl is-enabled amazon-ssm-agent").stdout.strip() == "enabled"
