"""playbooks/files/host_evidence.py's probes against real servers on loopback: the TLS versions a server
negotiates (including TLS 1.0 and 1.1, which the probe must still be able to offer), and whether a plaintext
session is served (HTTP, and PostgreSQL's startup without SSLRequest)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from infra.hosts import ca
from infra.sandbox.server import free_port
from stack.dev.postgres import LocalPostgres

SCRIPT = Path(__file__).resolve().parents[2] / "playbooks" / "files" / "host_evidence.py"


@pytest.fixture(scope="module")
def probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("host_evidence", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("tls")
    issued = ca.issue(ca.new_ca("probe"), "server", ["localhost"], ["127.0.0.1"], ["server"])
    (folder / "c.pem").write_text(issued.cert_pem)
    (folder / "k.pem").write_text(issued.key_pem)
    return str(folder / "c.pem"), str(folder / "k.pem")


def tls_server(identity: tuple[str, str], minimum: ssl.TLSVersion) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*identity)
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.minimum_version = minimum
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(
    ("minimum", "expected"),
    [
        (ssl.TLSVersion.TLSv1, {"TLSv1": True, "TLSv1.1": True, "TLSv1.2": True, "TLSv1.3": True}),
        (ssl.TLSVersion.TLSv1_2, {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}),
        (ssl.TLSVersion.TLSv1_3, {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": False, "TLSv1.3": True}),
    ],
)
def test_the_probe_sees_exactly_the_versions_a_server_accepts(
    probe: ModuleType, identity: tuple[str, str], minimum: ssl.TLSVersion, expected: dict[str, bool]
) -> None:
    for port in tls_server(identity, minimum):
        seen = probe.tls_evidence({"host": "127.0.0.1", "port": port})
        assert seen == {"address": f"127.0.0.1:{port}", "accepted": expected, "plaintext": False}


def test_a_closed_port_is_an_error_not_a_pass(probe: ModuleType) -> None:
    port = free_port()
    assert probe.tls_evidence({"host": "127.0.0.1", "port": port})["error"].startswith("not reachable")


def test_plaintext_http_and_plaintext_postgresql_are_seen(probe: ModuleType) -> None:
    http = subprocess.Popen(
        ["python3", "-m", "http.server", "--bind", "127.0.0.1", str(port := free_port())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                threading.Event().wait(0.1)
        assert probe.plaintext_served({"host": "127.0.0.1", "port": port}) is True
    finally:
        http.terminate()
        http.wait()
    base = Path(tempfile.mkdtemp(prefix="phistack-pg-"))
    os.chmod(base, 0o755)
    server = LocalPostgres(base, free_port()).start()  # embedded PostgreSQL: built without TLS, so plaintext
    try:
        target = {"host": "127.0.0.1", "port": server.port, "starttls": "postgres"}
        assert probe.plaintext_served(target) is True
        assert probe.tls_evidence(target)["accepted"] == dict.fromkeys(probe.VERSIONS, False)
    finally:
        server.stop()


def test_gpus_are_counted_by_the_driver_or_recorded_as_an_error(
    probe: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a driver (this machine, the test host) the evidence is an error, never a count to pass on; with one
    (here a named stand-in for nvidia-smi, since no GPU is present), every GPU it lists is counted."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi at all
    assert probe.gpu_evidence(4) == {"expected": 4, "error": "nvidia-smi could not run (FileNotFoundError)"}
    fake = tmp_path / "nvidia-smi"  # FAKE nvidia-smi: prints what the real one prints for two GPUs, or fails as it does
    fake.write_text(
        "#!/bin/sh\n[ -e \"$0.broken\" ] && { echo 'NVIDIA-SMI has failed because it couldn'\"'\"'t communicate with"
        " the NVIDIA driver.'; exit 9; }\necho '0, NVIDIA L40S, 46068 MiB'\necho '1, NVIDIA L40S, 46068 MiB'\n"
    )
    fake.chmod(0o755)
    seen = probe.gpu_evidence(2)
    assert seen["seen"] == 2 and seen["expected"] == 2 and "error" not in seen
    (tmp_path / "nvidia-smi.broken").touch()
    broken = probe.gpu_evidence(2)
    assert broken["error"].startswith("nvidia-smi: NVIDIA-SMI has failed") and "seen" not in broken


def test_the_audit_trail_probe_reports_what_it_could_not_check(
    probe: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No audit trail read on this host: nothing to check (None). No anchor place, or no gateway installed: an error the
    control reports as ERROR. The probe's own run against anchors is exercised on the Debian 13 host."""
    assert probe.audit_trail_evidence(None) is None
    assert "anchoring is not configured on this host" in probe.audit_trail_evidence({"anchors": ""})["error"]
    monkeypatch.setattr(probe, "GATEWAY", str(tmp_path / "absent"))
    assert probe.audit_trail_evidence({"anchors": "s3://b/audit-anchors"}) == {
        "error": f"{tmp_path}/absent is not installed"
    }
    printing = tmp_path / "gateway"
    printing.write_text('#!/bin/sh\necho "not json" >&2\nexit 3\n')
    printing.chmod(0o755)
    monkeypatch.setattr(probe, "GATEWAY", str(printing))
    real = subprocess.run

    def without_runuser(argv: list[str], **kw: Any) -> Any:
        assert shutil.which(argv[0], path=kw["env"]["PATH"]), f"{argv[0]} is not on the probe's PATH"
        return real(argv[4:], **kw)

    monkeypatch.setattr(probe.subprocess, "run", without_runuser)
    assert probe.audit_trail_evidence({"anchors": "/tmp/a"}) == {"error": "audit verify (exit 3): not json"}
    echoing = tmp_path / "echoing"
    echoing.write_text('#!/bin/sh\nprintf \'{"argv": "%s"}\\n\' "$*"\n')
    echoing.chmod(0o755)
    monkeypatch.setattr(probe, "GATEWAY", str(echoing))
    aurora = {"anchors": "s3://b/audit-anchors", "db_host": "db.cluster-x.rds.amazonaws.com", "db_port": 5432}
    argv = probe.audit_trail_evidence(aurora)["argv"]  # on Aurora: the audit reader by IAM token, TLS verified
    assert argv == (
        "audit verify --dsn host=db.cluster-x.rds.amazonaws.com port=5432 dbname=phistack user=phistack_auditor "
        "sslmode=verify-full sslrootcert=/etc/phistack/tls/rds-ca.pem --iam-auth --anchors s3://b/audit-anchors --json"
    )
    local = probe.audit_trail_evidence({"anchors": "/var/lib/phistack/anchors"})["argv"]
    assert local.startswith("audit verify --dsn host=/var/run/postgresql dbname=phistack user=phistack_auditor ")
