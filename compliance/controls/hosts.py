"""Host controls, judged from the evidence playbooks/verify.yml gathers on each host (`--host-evidence DIR`):
TLS as the services actually negotiate it, the audit rules the kernel has loaded, no SSH server, each service
under its own user, the PHI data directory on an encrypted EBS volume, and the host database's continuous archive
(a point-in-time restore). A probe that could not run is ERROR."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from compliance.controls._base import Record, control, finding
from compliance.facts import Facts
from compliance.facts.compute import VOLUMES
from compliance.facts.hosts import HOSTS
from compliance.facts.storage import KMS_KEYS
from compliance.model import Control, Finding, Status

HOST = "phistack::Host"
OLD_TLS = ("TLSv1", "TLSv1.1")
MODERN_TLS = ("TLSv1.2", "TLSv1.3")


def _error(host: Record, what: str, reason: str) -> Finding:
    return finding(Status.ERROR, host["id"], HOST, host.get("region", "global"), f"{what} on {host['id']}: {reason}.")


def tls_only_modern(facts: Facts) -> list[Finding]:
    out = []
    for host in facts.get(HOSTS):
        for name, probe in sorted((host.get("tls") or {}).items()):
            rid = f"{host['id']}/{name}"
            if "error" in probe:
                out.append(_error(host, f"TLS of {name}", f"could not be probed ({probe['error']})"))
                continue
            accepted: dict[str, bool | None] = probe.get("accepted", {})
            old = [v for v in OLD_TLS if accepted.get(v)]
            untested = [v for v in OLD_TLS if accepted.get(v) is None]
            modern = [v for v in MODERN_TLS if accepted.get(v)]
            evidence: dict[str, Any] = {"address": probe.get("address"), "accepted": accepted}
            if probe.get("plaintext"):
                message = f"{name} on {host['id']} ({probe.get('address')}) serves connections without TLS."
                out.append(finding(Status.FAIL, rid, HOST, "global", message, **evidence))
            elif old:
                message = f"{name} on {host['id']} accepts {', '.join(old)}: only TLS 1.2 and newer are allowed."
                out.append(finding(Status.FAIL, rid, HOST, "global", message, **evidence))
            elif untested:
                out.append(_error(host, f"TLS of {name}", f"the probe could not offer {', '.join(untested)}"))
            elif not modern:
                out.append(_error(host, f"TLS of {name}", "no TLS version completed a handshake"))
            else:
                message = f"{name} on {host['id']} accepts only {', '.join(modern)}, and no plaintext."
                out.append(finding(Status.PASS, rid, HOST, "global", message, **evidence))
    return out


def audit_rules_loaded(facts: Facts) -> list[Finding]:
    out = []
    for host in facts.get(HOSTS):
        auditd = host.get("auditd") or {"error": "no auditd evidence"}
        if "error" in auditd:
            out.append(_error(host, "Kernel audit rules", f"could not be read ({auditd['error']})"))
            continue
        expected = host.get("phi_paths") or []
        missing = sorted(set(expected) - set(auditd.get("phi_paths_watched", [])))
        evidence = {"rules_loaded": auditd.get("rules_loaded"), "enabled": auditd.get("enabled"), "missing": missing}
        if not auditd.get("rules_loaded") or auditd.get("enabled") not in ("1", "2"):
            message = f"{host['id']} has no audit rules loaded in the kernel, or auditing is disabled."
            out.append(finding(Status.FAIL, host["id"], HOST, "global", message, **evidence))
        elif missing:
            message = (
                f"{host['id']} loads {auditd['rules_loaded']} audit rules but does not watch {', '.join(missing)}."
            )
            out.append(finding(Status.FAIL, host["id"], HOST, "global", message, **evidence))
        else:
            message = f"{host['id']} loads {auditd['rules_loaded']} audit rules, watching every PHI path."
            out.append(finding(Status.PASS, host["id"], HOST, "global", message, **evidence))
    return out


def no_ssh_server(facts: Facts) -> list[Finding]:
    out = []
    for host in facts.get(HOSTS):
        ssh = host.get("ssh")
        if not ssh:
            out.append(_error(host, "The SSH server", "no evidence was gathered"))
            continue
        running = sorted(unit for unit, state in (ssh.get("units") or {}).items() if state in ("active", "activating"))
        if running or ssh.get("port_22_listening"):
            what = ", ".join(running) or "a listener on port 22"
            message = f"{host['id']} runs an SSH server ({what}); hosts are managed through SSM only."
            out.append(finding(Status.FAIL, host["id"], HOST, "global", message, **ssh))
        else:
            message = f"{host['id']} runs no SSH server and nothing listens on port 22."
            out.append(finding(Status.PASS, host["id"], HOST, "global", message, **ssh))
    return out


def services_own_users(facts: Facts) -> list[Finding]:
    out = []
    for host in facts.get(HOSTS):
        for unit, seen in sorted((host.get("services") or {}).items()):
            rid = f"{host['id']}/{unit}"
            if seen.get("active") != "active" or not seen.get("user"):
                out.append(_error(host, f"The user of {unit}", f"it is not running (state {seen.get('active')})"))
                continue
            ok = seen["user"] == seen["expected_user"] and seen["user"] != "root"
            verb = "runs as" if ok else f"runs as {seen['user']}, not"
            message = f"{unit} on {host['id']} {verb} its own user {seen['expected_user']}."
            out.append(finding(Status.PASS if ok else Status.FAIL, rid, HOST, "global", message, **seen))
    return out


def phi_volume_encrypted(facts: Facts) -> list[Finding]:
    hosts = facts.get(HOSTS)
    volumes = {v["id"]: v for v in facts.get(VOLUMES)}
    customer_keys = {k["arn"] for k in facts.get(KMS_KEYS) if k.get("manager") == "CUSTOMER"}
    out = []
    for host in hosts:
        volume = host.get("data_volume") or {"error": "no evidence was gathered"}
        if "error" in volume:
            out.append(_error(host, "The PHI data volume", volume["error"]))
            continue
        vid = volume.get("ebs_volume_id")
        if not vid:
            reason = f"{volume['path']} is on {volume['source']} ({volume['fstype']}), not an identifiable EBS volume"
            out.append(_error(host, "The PHI data volume", reason))
            continue
        if vid not in volumes:
            out.append(_error(host, "The PHI data volume", f"{vid} is not among the account's volumes read"))
            continue
        found = volumes[vid]
        ok = bool(found.get("encrypted")) and found.get("kms_key_id") in customer_keys
        state = "encrypted with customer-managed key" if ok else "NOT encrypted with a customer-managed key"
        message = f"{volume['path']} on {host['id']} is on {vid}, {state} {found.get('kms_key_id') or ''}".strip()
        out.append(finding(Status.PASS if ok else Status.FAIL, f"{host['id']}/{vid}", HOST, "global", message + "."))
    return out


ARCHIVE_TOOL = "phistack-db-archive"
BACKUP_MAX_AGE = dt.timedelta(hours=48)  # a daily base backup, with a day's slack for a missed run


def _archive_problem(archive: Record, collected: dt.datetime | None) -> str | None:
    """Why this database could not be restored to a recent moment from the archive; None when it could."""
    if archive.get("archive_mode") not in ("on", "always"):
        return f"archive_mode is {archive.get('archive_mode')!r}: no WAL is archived"
    if ARCHIVE_TOOL not in str(archive.get("archive_command") or ""):
        return f"archive_command {archive.get('archive_command')!r} does not archive to the stack's db-archive bucket"
    if not archive.get("last_archived_wal"):
        return "no WAL file has been archived yet"
    failed, archived = archive.get("last_failed_time"), archive.get("last_archived_time")
    if failed and (not archived or dt.datetime.fromisoformat(failed) > dt.datetime.fromisoformat(archived)):
        return f"the last archiving attempt failed ({failed}, {archive.get('failed_count')} failures in all)"
    if not archive.get("base_backups"):
        return "the archive holds no base backup to restore from"
    newest = dt.datetime.fromisoformat(str(archive["newest_backup_end"]))
    if collected and collected - newest > BACKUP_MAX_AGE:
        hours = BACKUP_MAX_AGE // dt.timedelta(hours=1)
        return f"the newest base backup ended {newest.isoformat()}, more than {hours} hours before the evidence"
    return None


def _local_database(facts: Facts, key: str, what: str, out: list[Finding]) -> Iterator[tuple[Record, Record]]:
    """Each host's ``key`` section: an ERROR for evidence older than its probe; hosts where it does not apply
    (None: Aurora keeps its own backups; a host that reads no audit trail) are skipped."""
    found = facts.get(HOSTS)
    hosts: list[Record] = list(found)
    for host in hosts:
        if key not in host:
            out.append(_error(host, what, "the evidence predates this probe"))
        elif host[key] is not None:
            yield host, host[key]


def database_archived(facts: Facts) -> list[Finding]:
    out: list[Finding] = []
    for host, archive in _local_database(facts, "archive", "The database's archive", out):
        if "error" in archive or "backups_error" in archive:
            out.append(_error(host, "The database's archive", archive.get("error") or archive["backups_error"]))
            continue
        collected = dt.datetime.fromisoformat(host["collected_at"]) if host.get("collected_at") else None
        problem = _archive_problem(archive, collected)
        keys = ("archive_mode", "archived_count", "last_archived_time", "failed_count", "base_backups")
        evidence = {k: archive.get(k) for k in (*keys, "newest_backup_end")}
        if problem:
            message = f"The database on {host['id']} cannot be restored to a recent moment: {problem}."
            out.append(finding(Status.FAIL, host["id"], HOST, "global", message, **evidence))
        else:
            message = (
                f"The database on {host['id']} archives every WAL file ({archive.get('archived_count')} so far, the "
                f"last at {archive.get('last_archived_time')}) and the archive holds {archive['base_backups']} base "
                f"backups, the newest ended {archive['newest_backup_end']}."
            )
            out.append(finding(Status.PASS, host["id"], HOST, "global", message, **evidence))
    return out


# The newest anchor may be this old when the evidence is collected: the hosts anchor every few minutes and at
# every shutdown, so a day without one means anchoring has stopped.
ANCHOR_MAX_AGE = dt.timedelta(hours=24)


def _anchoring_problem(trail: Record, collected: dt.datetime) -> str | None:
    last = trail.get("last_anchor") or {}
    if not last.get("at"):
        return "no anchor was read"
    at = dt.datetime.fromisoformat(str(last["at"]))
    if collected - at > ANCHOR_MAX_AGE:
        hours = ANCHOR_MAX_AGE // dt.timedelta(hours=1)
        return (
            f"the newest anchor ({at.isoformat()}) is more than {hours} hours older than the evidence: anchoring "
            "stopped"
        )
    return None


def _restores_said(restores: list[Record]) -> str:
    """Each acknowledged restore, for the auditor: a deliberate step back of the trail, signed by a host."""
    said = [
        f" The trail was restored (acknowledged by {r.get('host')} at {r.get('at')}: {r.get('reason')}); "
        f"{r.get('replaced_anchors')} earlier anchors"
        + (f", from event {r.get('replaced_from_seq')} on," if r.get("replaced_from_seq") is not None else "")
        + " no longer hold."
        for r in restores
    ]
    return "".join(said)


def audit_trail_anchored(facts: Facts) -> list[Finding]:
    out: list[Finding] = []
    for host, trail in _local_database(facts, "audit_trail", "The audit trail's check", out):
        if "error" in trail or trail.get("outcome") == "incomplete":
            reason = trail.get("error") or "; ".join(trail.get("problems") or ["not checked"])
            out.append(_error(host, "The audit trail's check against its anchors", reason))
            continue
        last = trail.get("last_anchor") or {}
        evidence = {k: trail.get(k) for k in ("outcome", "events", "anchors", "last_anchor", "restores", "problems")}
        collected = (
            dt.datetime.fromisoformat(host["collected_at"]) if host.get("collected_at") else dt.datetime.now(dt.UTC)
        )
        if trail.get("outcome") == "broken":
            message = (
                f"The audit trail on {host['id']} contradicts what was anchored or shipped: {trail['problems'][0]}"
            )
            out.append(finding(Status.FAIL, host["id"], HOST, "global", message, **evidence))
        elif (problem := _anchoring_problem(trail, collected)) is not None:
            out.append(finding(Status.FAIL, host["id"], HOST, "global", f"The audit trail on {host['id']}: {problem}.",
                               **evidence))  # fmt: skip
        else:
            restores = trail.get("restores") or []
            anchors, replaced = trail.get("anchors") or 0, sum(int(r.get("replaced_anchors") or 0) for r in restores)
            held = (
                f"{anchors - replaced} of {anchors} anchors unchanged, the other {replaced} replaced by an "
                "acknowledged restore"
                if replaced
                else f"every one of {anchors} anchors unchanged"
            )
            message = (
                f"The audit trail on {host['id']} verifies: {trail.get('events')} events, and {held}; the last "
                f"anchored event is {last.get('seq')}, at {last.get('at')} by {last.get('host')}."
                f"{_restores_said(restores)}"
            )
            out.append(finding(Status.PASS, host["id"], HOST, "global", message, **evidence))
    return out


CONTROLS: tuple[Control, ...] = (
    control(
        "host-tls-only",
        "Host services accept only TLS 1.2 or newer, never plaintext",
        "critical",
        ("164.312(e)(1)", "164.312(e)(2)(ii)"),
        ("hosts",),
        (),
        "PHI crosses between the gateway, the engine and PostgreSQL; each hop must be encrypted with a current "
        "protocol. Probed on the wire, not read from configuration.",
        "Run the playbooks again (vector_store sets ssl_min_protocol_version and rejects hostnossl; the gateway "
        "and engine serve TLS only); then playbooks/verify.yml.",
        tls_only_modern,
    ),
    control(
        "host-audit-rules",
        "The kernel audit rules are loaded and watch every PHI path",
        "high",
        ("164.312(b)",),
        ("hosts",),
        (),
        "Audit controls must record activity on systems holding PHI; rules on disk that the kernel has not "
        "loaded record nothing.",
        "Run the base role; check `auditctl -s` (enabled 1 or 2) and `auditctl -l` on the host.",
        audit_rules_loaded,
    ),
    control(
        "host-no-ssh",
        "No SSH server runs on the hosts",
        "high",
        ("164.312(a)(1)", "164.312(d)"),
        ("hosts",),
        (),
        "Hosts are reached through SSM, which authenticates with IAM and logs sessions; an SSH server is a second, "
        "unlogged door.",
        "Run the base role with base_ssh_disabled true (the default).",
        no_ssh_server,
    ),
    control(
        "host-service-users",
        "Each service runs under its own unprivileged user",
        "high",
        ("164.312(a)(1)", "164.308(a)(4)(ii)(B)"),
        ("hosts",),
        (),
        "A compromised service must not reach the others' keys and data; root would reach everything.",
        "Run the vector_store, llm_server and rag_gateway roles; their systemd units set User=.",
        services_own_users,
    ),
    control(
        "host-phi-volume-encrypted",
        "The PHI data directory is on an EBS volume encrypted with a customer-managed key",
        "critical",
        ("164.312(a)(2)(iv)",),
        ("hosts", "volumes", "kms_keys"),
        ("ec2:DescribeVolumes", "kms:ListKeys", "kms:DescribeKey"),
        "Encryption at rest is only as good as the volume PHI is actually written to: the host says which volume "
        "holds the data directory, and the EC2 API says how that volume is encrypted.",
        "Mount the stack's encrypted data volume at vector_store_data_dir before running the vector_store role.",
        phi_volume_encrypted,
    ),
    control(
        "host-db-point-in-time",
        "The host database archives its WAL, with recent base backups, for a point-in-time restore",
        "high",
        ("164.308(a)(7)(ii)(A)", "164.308(a)(7)(ii)(B)"),
        ("hosts",),
        (),
        "A daily volume backup loses up to a day of PHI and audit events; with every WAL file archived to the "
        "stack's db-archive bucket, the database can be restored to any moment within the retention. Read from "
        "the running server (pg_stat_archiver) and the archive itself, not from configuration.",
        "Run the vector_store role with the stack's db_archive outputs (`phistack inventory`); check "
        "`phistack-db-archive list` and the PostgreSQL log for archive_command failures on the host.",
        database_archived,
    ),
    control(
        "host-audit-trail-anchored",
        "The audit trail verifies against its signed anchors, and anchoring has not stopped",
        "high",
        ("164.312(b)", "164.312(c)(1)"),
        ("hosts",),
        (),
        "The hash chain finds an edited event, but a database superuser or a restored old backup can rewrite the "
        "whole chain consistently. Heads of the chain signed by the host and kept in the Object-Locked archive "
        "cannot be rewritten with it: an auditor can then rely on the trail, not take it on trust.",
        "Run the log_shipping role with the stack output audit_anchors; on the host, "
        "`phistack-gateway audit verify --anchors` names the first anchor the database contradicts. After a "
        "deliberate restore, acknowledge it: phistack-db-archive does; after an Aurora point-in-time restore, start "
        "phistack-audit-anchor-restore@REASON on one host.",
        audit_trail_anchored,
    ),
)
