"""Host-level evidence for the compliance report, gathered on a phistack host by playbooks/verify.yml.

Standard library only (it runs with the host's /usr/bin/python3). Observes, never changes: which TLS versions
each service accepts (probed, not read from its configuration), whether a plaintext connection is served, the
audit rules the kernel has loaded, whether an SSH server runs, which user each service runs as, what the PHI data
directory is stored on, how many GPUs the driver sees, and whether the host PostgreSQL archives its WAL with
base backups in the archive (a point-in-time restore), and whether the audit trail verifies against its signed
anchors. Prints one JSON document (format
phistack/host-evidence/v1). A probe that could not run records an "error" instead of a guess, and the compliance
control reading it reports ERROR.

usage: host_evidence.py SPEC_JSON   (SPEC: {"tls": {name: {host, port, starttls?, client_cert?, client_key?}},
                                            "services": {unit: user}, "data_dir": path, "phi_paths": [path],
                                            "gpus": expected count,
                                            "archive": {"port": port} or null: no local database,
                                            "audit_trail": {"anchors": where, "db": name, "db_host": Aurora's or "",
                                                            "db_port": port, "env": {...}} or null})"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import warnings
from typing import Any

VERSIONS = {"TLSv1": "TLSv1", "TLSv1.1": "TLSv1_1", "TLSv1.2": "TLSv1_2", "TLSv1.3": "TLSv1_3"}
PG_SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def _connect(host: str, port: int, starttls: str | None) -> socket.socket:
    raw = socket.create_connection((host, port), timeout=5)
    if starttls == "postgres":
        raw.sendall(PG_SSL_REQUEST)
        if raw.recv(1) != b"S":
            raw.close()
            raise ConnectionError("PostgreSQL refused to start TLS")
    return raw


def accepts(target: dict[str, Any], version: str) -> bool | None:
    """Whether the service completes a handshake at exactly this TLS version; None if this client cannot try."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # probing what is offered, not whom we talk to
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # asking for TLS 1.0 and 1.1 is the point
    try:
        context.set_ciphers("ALL:@SECLEVEL=0")  # let the client offer old versions, so the server must refuse
        context.minimum_version = context.maximum_version = getattr(ssl.TLSVersion, VERSIONS[version])
    except (ValueError, ssl.SSLError):
        return None
    if target.get("client_cert"):
        context.load_cert_chain(target["client_cert"], target["client_key"])
    try:
        with _connect(target["host"], int(target["port"]), target.get("starttls")) as raw:
            with context.wrap_socket(raw, server_hostname=target["host"]) as tls:
                return tls.version() == version
    except ssl.SSLError as exc:
        return None if exc.reason == "NO_PROTOCOLS_AVAILABLE" else False  # None: this client cannot offer it
    except (ConnectionError, TimeoutError, OSError):
        return False


def plaintext_served(target: dict[str, Any]) -> bool:
    """Whether the service answers without TLS: PostgreSQL asks for a password (instead of a pg_hba rejection);
    an HTTPS port answers an HTTP request."""
    try:
        with socket.create_connection((target["host"], int(target["port"])), timeout=5) as raw:
            if target.get("starttls") == "postgres":
                params = b"user\0phistack_app\0database\0phistack\0\0"
                raw.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
                return raw.recv(1) == b"R"  # an authentication request: the plaintext session was accepted
            raw.sendall(b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            return raw.recv(5) == b"HTTP/"
    except (ConnectionError, TimeoutError, OSError):
        return False


def tls_evidence(target: dict[str, Any]) -> dict[str, Any]:
    try:
        socket.create_connection((target["host"], int(target["port"])), timeout=5).close()
    except OSError as exc:
        return {"address": f"{target['host']}:{target['port']}", "error": f"not reachable: {exc.strerror or exc}"}
    return {
        "address": f"{target['host']}:{target['port']}",
        "accepted": {version: accepts(target, version) for version in VERSIONS},
        "plaintext": plaintext_served(target),
    }


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def auditd_evidence(phi_paths: list[str]) -> dict[str, Any]:
    try:
        listed = _run("auditctl", "-l")
    except FileNotFoundError:
        return {"error": "auditctl is not installed"}
    if listed.returncode != 0:
        return {"error": (listed.stderr or listed.stdout).strip().splitlines()[-1][:200]}
    rules = [line for line in listed.stdout.splitlines() if line.startswith("-")]
    watched = [p for p in phi_paths if any(f"-w {p} " in r or f"dir={p} " in r for r in rules)]
    status = _run("auditctl", "-s").stdout
    enabled = next((line.split()[1] for line in status.splitlines() if line.startswith("enabled")), None)
    return {"rules_loaded": len(rules), "phi_paths_watched": watched, "enabled": enabled}


def _unit(unit: str, prop: str) -> str:
    return _run("systemctl", "show", "-p", prop, "--value", unit).stdout.strip()


def _process_user(pid: str) -> str | None:
    if pid in ("", "0"):
        return None
    owner = _run("ps", "-o", "user:32=", "-p", pid).stdout.strip()
    return owner or None


def services_evidence(services: dict[str, str]) -> dict[str, Any]:
    out = {}
    for unit, expected in services.items():
        active = _unit(unit, "ActiveState")
        out[unit] = {"expected_user": expected, "active": active, "user": _process_user(_unit(unit, "MainPID"))}
    return out


def ssh_evidence() -> dict[str, Any]:
    active = {u: _unit(u, "ActiveState") for u in ("ssh.service", "ssh.socket")}
    listening = _run("ss", "-Hltn", "sport = :22").stdout.strip() != ""
    return {"units": active, "port_22_listening": listening}


def volume_evidence(path: str) -> dict[str, Any]:
    found = _run("findmnt", "-n", "-J", "-o", "SOURCE,FSTYPE,TARGET", "--target", path)
    if found.returncode != 0:
        return {"path": path, "error": f"findmnt: {found.stderr.strip()[:200]}"}
    mount = json.loads(found.stdout)["filesystems"][0]
    source = mount["source"]
    volume = None
    device = os.path.basename(os.path.realpath(source)) if source.startswith("/dev/") else None
    if device:  # Nitro: the EBS volume id is the NVMe serial, vol0123... (without the dash)
        for candidate in (f"/sys/class/block/{device}/device/serial", f"/sys/class/block/{device}/../device/serial"):
            if os.path.exists(candidate):
                serial = open(candidate).read().strip()  # noqa: SIM115
                if serial.startswith("vol"):
                    volume = "vol-" + serial.removeprefix("vol").removeprefix("-")
                break
    return {
        "path": path,
        "source": source,
        "fstype": mount["fstype"],
        "mount": mount["target"],
        "ebs_volume_id": volume,
    }


def gpu_evidence(expected: int | None) -> dict[str, Any]:
    """The GPUs the driver sees (nvidia-smi), against the count the instance type has. Not on a GPU host, or with
    no driver loaded, this is an error, never a pass."""
    out: dict[str, Any] = {"expected": expected}
    try:
        listed = _run("nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader")
    except OSError as exc:
        return {**out, "error": f"nvidia-smi could not run ({exc.__class__.__name__})"}
    if listed.returncode != 0:
        return {**out, "error": f"nvidia-smi: {(listed.stderr or listed.stdout).strip()[:200]}"}
    gpus = [line.strip() for line in listed.stdout.splitlines() if line.strip()]
    return {**out, "seen": len(gpus), "gpus": gpus}


ARCHIVER_SQL = """SELECT json_build_object(
  'archive_mode', current_setting('archive_mode'), 'archive_command', current_setting('archive_command'),
  'archive_timeout', current_setting('archive_timeout'), 'archived_count', archived_count,
  'last_archived_wal', last_archived_wal, 'last_archived_time', last_archived_time,
  'failed_count', failed_count, 'last_failed_time', last_failed_time) FROM pg_stat_archiver"""
ARCHIVE_TOOL = "/usr/local/sbin/phistack-db-archive"


def archive_evidence(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """The archiver's settings and counters as the running server reports them, and the base backups the archive
    holds (phistack-db-archive list). None: this host has no local database (Aurora)."""
    if not spec:
        return None
    port = str(spec.get("port", 5432))
    try:
        stats = _run(
            "runuser", "-u", "postgres", "--", "psql", "-XAt", "-p", port, "-d", "postgres", "-c", ARCHIVER_SQL
        )
    except OSError as exc:
        return {"error": f"psql could not run ({exc.__class__.__name__})"}
    if stats.returncode != 0:
        return {"error": f"psql: {(stats.stderr or stats.stdout).strip()[-200:]}"}
    out: dict[str, Any] = json.loads(stats.stdout)
    if not os.path.exists(ARCHIVE_TOOL):
        return {**out, "backups_error": f"{ARCHIVE_TOOL} is not installed"}
    listed = _run(ARCHIVE_TOOL, "list")
    if listed.returncode != 0:
        return {**out, "backups_error": (listed.stderr or listed.stdout).strip()[-200:]}
    try:
        backups = json.loads(listed.stdout).get("backups_list", [])
        ends = [b.get("end_time_iso") for b in backups if b.get("status") == "DONE" and b.get("end_time_iso")]
        done = sorted(dt.datetime.fromisoformat(end).astimezone(dt.UTC) for end in ends)
    except (ValueError, AttributeError, TypeError) as exc:
        return {**out, "backups_error": f"the archive's list could not be read ({exc.__class__.__name__})"}
    return {**out, "base_backups": len(done), "newest_backup_end": done[-1].isoformat() if done else None}


GATEWAY = "/opt/phistack/gateway/venv/bin/phistack-gateway"


def audit_trail_evidence(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """`phistack-gateway audit verify --anchors --json`, as the read-only auditor (phistack-auditor, which the
    local PostgreSQL maps to phistack_auditor; on Aurora, phistack_auditor by IAM token): the chain against every
    anchor in the archive. None: this host reads no audit trail."""
    if not spec:
        return None
    if not spec.get("anchors"):
        return {
            "error": "anchoring is not configured on this host (log_shipping_anchor_to: the stack output "
            "audit_anchors; log_shipping_audit_anchor_enabled)"
        }
    if not os.path.exists(GATEWAY):
        return {"error": f"{GATEWAY} is not installed"}
    database = ["--dsn", f"host=/var/run/postgresql dbname={spec.get('db', 'phistack')} user=phistack_auditor"]
    if spec.get("db_host"):  # Aurora: verify-full against the bundle's RDS CA, an IAM token as the password
        database = [
            "--dsn", f"host={spec['db_host']} port={spec.get('db_port', 5432)} dbname={spec.get('db', 'phistack')} "
            "user=phistack_auditor sslmode=verify-full sslrootcert=/etc/phistack/tls/rds-ca.pem", "--iam-auth",
        ]  # fmt: skip
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", **{k: str(v) for k, v in (spec.get("env") or {}).items()}}
    try:
        ran = subprocess.run(
            ["runuser", "-u", "phistack-auditor", "--", GATEWAY, "audit", "verify", *database, "--anchors",
             spec["anchors"], "--json"],
            capture_output=True, text=True, check=False, env=env, timeout=1800,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"audit verify could not run ({exc.__class__.__name__})"}
    try:
        found: dict[str, Any] = json.loads(ran.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"audit verify (exit {ran.returncode}): {(ran.stderr or ran.stdout).strip()[-200:]}"}
    return found


def main(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "phistack/host-evidence/v1",
        "host": socket.gethostname(),
        "collected_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "tls": {name: tls_evidence(target) for name, target in spec.get("tls", {}).items()},
        "phi_paths": spec.get("phi_paths", []),
        "auditd": auditd_evidence(spec.get("phi_paths", [])),
        "ssh": ssh_evidence(),
        "services": services_evidence(spec.get("services", {})),
        "data_volume": volume_evidence(spec["data_dir"]) if spec.get("data_dir") else None,
        "gpus": gpu_evidence(int(spec["gpus"]) if spec.get("gpus") else None),
        "archive": archive_evidence(spec.get("archive")),
        "audit_trail": audit_trail_evidence(spec.get("audit_trail")),
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1])), indent=2))  # noqa: T201
