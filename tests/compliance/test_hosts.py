"""Host controls from playbooks/verify.yml's evidence: each judges PASS, FAIL and ERROR from what was observed,
and the evidence files are refused with one line naming the file when they are not host evidence."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from compliance.assessment import evaluate_control
from compliance.controls import by_id
from compliance.errors import InputError
from compliance.facts import Facts, Gap
from compliance.model import Status
from compliance.sources.hosts import load
from tests.compliance.conftest import ANCHORED, ARCHIVED

MODERN = {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}
KEY = "arn:aws:kms:us-east-1:123456789012:key/k1"
GOOD: dict[str, Any] = {
    "format": "phistack/host-evidence/v1",
    "host": "ip-10-0-1-5",
    "inventory_host": "i-0abc",
    "tls": {
        "postgresql": {"address": "127.0.0.1:5432", "accepted": MODERN, "plaintext": False},
        "gateway": {"address": "127.0.0.1:8443", "accepted": MODERN, "plaintext": False},
    },
    "phi_paths": ["/data/postgresql", "/opt/phistack"],
    "auditd": {"rules_loaded": 212, "enabled": "2", "phi_paths_watched": ["/data/postgresql", "/opt/phistack"]},
    "ssh": {"units": {"ssh.service": "inactive", "ssh.socket": "inactive"}, "port_22_listening": False},
    "services": {"phistack-gateway.service": {"expected_user": "phistack-gateway", "user": "phistack-gateway",
                                              "active": "active"}},
    "data_volume": {"path": "/data/postgresql", "source": "/dev/nvme1n1", "fstype": "xfs", "ebs_volume_id": "vol-1"},
    "collected_at": "2026-11-24T10:00:00+00:00",
    "archive": ARCHIVED,
    "audit_trail": ANCHORED,
}  # fmt: skip


TLS, AUDIT, SSH, USERS, VOLUME, PITR, TRAIL = (
    "host-tls-only",
    "host-audit-rules",
    "host-no-ssh",
    "host-service-users",
    "host-phi-volume-encrypted",
    "host-db-point-in-time",
    "host-audit-trail-anchored",
)
REWRITTEN = "Anchor 3 of host gw-a (2026-11-24T09:40:00+00:00) names event 900 with hash 1f...; the trail was rewritten"
RESTORED = {
    "host": "gw-a", "number": 9, "at": "2026-11-24T08:00:00+00:00", "kept_to_seq": 1050, "replaced_anchors": 2,
    "replaced_from_seq": 1100, "reason": "phistack-db-archive restore to 2026-11-24 07:40:00+00",
}  # fmt: skip


def judge(evidence: dict[str, Any], control: str, volumes: list[dict[str, Any]] | None = None) -> Any:
    facts = Facts("live", "123456789012", ["us-east-1"])
    facts.add("hosts", [{"id": evidence["inventory_host"], "region": "global", **evidence}])
    facts.add("volumes", volumes if volumes is not None else [{"id": "vol-1", "encrypted": True, "kms_key_id": KEY}])
    facts.add("kms_keys", [{"arn": KEY, "manager": "CUSTOMER"}])
    return evaluate_control(by_id()[control], facts, dt.date(2026, 11, 24))


def changed(**paths: Any) -> dict[str, Any]:
    evidence = copy.deepcopy(GOOD)
    for path, value in paths.items():
        *parents, last = path.split("__")
        target = evidence
        for p in parents:
            target = target[p]
        target[last] = value
    return evidence


@pytest.mark.parametrize(
    ("control", "evidence", "status", "words"),
    [
        (TLS, GOOD, Status.PASS, "accepts only TLSv1.2, TLSv1.3"),
        (TLS, changed(tls__gateway__plaintext=True), Status.FAIL, "serves connections without TLS"),
        (TLS, changed(tls__postgresql__accepted={**MODERN, "TLSv1.1": True}), Status.FAIL, "accepts TLSv1.1"),
        (TLS, changed(tls__postgresql__accepted={**MODERN, "TLSv1": None}), Status.ERROR, "could not offer TLSv1"),
        (TLS, changed(tls__gateway={"address": "x", "error": "not reachable"}), Status.ERROR, "not reachable"),
        (AUDIT, GOOD, Status.PASS, "212 audit rules"),
        (AUDIT, changed(auditd__phi_paths_watched=["/opt/phistack"]), Status.FAIL, "does not watch /data"),
        (AUDIT, changed(auditd__enabled="0"), Status.FAIL, "auditing is disabled"),
        (AUDIT, changed(auditd={"error": "Cannot open netlink audit socket"}), Status.ERROR, "netlink"),
        (SSH, GOOD, Status.PASS, "runs no SSH server"),
        (SSH, changed(ssh__units={"ssh.service": "active"}), Status.FAIL, "ssh.service"),
        (SSH, changed(ssh__port_22_listening=True), Status.FAIL, "port 22"),
        (USERS, GOOD, Status.PASS, "runs as its own user phistack-gateway"),
        (USERS, changed(services={"phistack-gateway.service": {
            "expected_user": "phistack-gateway", "user": "root", "active": "active"}}), Status.FAIL, "runs as root"),
        (USERS, changed(services={"phistack-gateway.service": {
            "expected_user": "phistack-gateway", "user": None, "active": "failed"}}), Status.ERROR, "not running"),
        (VOLUME, GOOD, Status.PASS, "vol-1, encrypted with customer-managed key"),
        (VOLUME, changed(data_volume__ebs_volume_id=None), Status.ERROR, "not an identifiable EBS"),
        (VOLUME, changed(data_volume__ebs_volume_id="vol-9"), Status.ERROR, "not among"),
        (PITR, GOOD, Status.PASS, "archives every WAL file (42 so far"),
        (PITR, changed(archive__archive_mode="off"), Status.FAIL, "archive_mode is 'off'"),
        (PITR, changed(archive__archive_command="cp %p /tmp/%f"), Status.FAIL, "does not archive to the stack's"),
        (PITR, changed(archive__last_archived_wal=None), Status.FAIL, "no WAL file has been archived"),
        (PITR, changed(archive__last_failed_time="2026-11-24T09:59:30+00:00", archive__failed_count=3), Status.FAIL,
         "the last archiving attempt failed"),
        (PITR, changed(archive__base_backups=0, archive__newest_backup_end=None), Status.FAIL, "no base backup"),
        (PITR, changed(archive__newest_backup_end="2026-11-21T02:10:00+00:00"), Status.FAIL, "more than 48 hours"),
        (PITR, changed(archive={"error": "psql: connection refused"}), Status.ERROR, "connection refused"),
        (PITR, changed(archive={**ARCHIVED, "backups_error": "AccessDenied"}), Status.ERROR, "AccessDenied"),
        (TRAIL, GOOD, Status.PASS, "1200 events, and every one of 12 anchors unchanged; the last anchored event is "
         "1180, at 2026-11-24T09:55:00+00:00 by gw-a"),
        (TRAIL, changed(audit_trail={**ANCHORED, "restores": [RESTORED]}), Status.PASS,
         "1200 events, and 10 of 12 anchors unchanged, the other 2 replaced by an acknowledged restore; the last "
         "anchored event is 1180, at 2026-11-24T09:55:00+00:00 by gw-a. The trail was restored (acknowledged by "
         "gw-a at 2026-11-24T08:00:00+00:00: phistack-db-archive restore to 2026-11-24 07:40:00+00); 2 earlier "
         "anchors, from event 1100 on, no longer hold."),
        (TRAIL, changed(audit_trail={**ANCHORED, "outcome": "broken", "problems": [REWRITTEN]}), Status.FAIL,
         "contradicts what was anchored or shipped: Anchor 3 of host gw-a"),
        (TRAIL, changed(audit_trail__last_anchor={**ANCHORED["last_anchor"], "at": "2026-11-22T09:55:00+00:00"}),
         Status.FAIL, "more than 24 hours older than the evidence: anchoring stopped"),
        (TRAIL, changed(audit_trail={"outcome": "incomplete", "problems": ["no anchor found: nothing to verify"]}),
         Status.ERROR, "no anchor found"),
        (TRAIL, changed(audit_trail={"error": "phistack-gateway is not installed"}), Status.ERROR, "not installed"),
    ],
)  # fmt: skip
def test_each_host_control_judges_what_was_observed(
    control: str, evidence: dict[str, Any], status: Status, words: str
) -> None:
    result = judge(evidence, control)
    assert result.status is status, [f.message for f in result.findings]
    assert any(words in f.message for f in result.findings), [f.message for f in result.findings]


def test_a_host_without_a_local_database_is_not_judged_and_old_evidence_is_an_error() -> None:
    aurora = judge(changed(archive=None), PITR)  # the stack's database is Aurora: no finding for this host
    assert aurora.findings == []
    old = copy.deepcopy(GOOD)
    del old["archive"]
    result = judge(old, PITR)
    assert result.status is Status.ERROR and "predates this probe" in result.findings[0].message
    assert judge(changed(audit_trail=None), TRAIL).findings == []  # Aurora: no local trail on this host
    del old["audit_trail"]
    assert judge(old, TRAIL).status is Status.ERROR


def test_an_unencrypted_or_aws_managed_volume_fails() -> None:
    aws_managed = "arn:aws:kms:us-east-1:123456789012:key/aws-managed"
    for volume in (
        {"id": "vol-1", "encrypted": False, "kms_key_id": None},
        {"id": "vol-1", "encrypted": True, "kms_key_id": aws_managed},
    ):
        result = judge(GOOD, VOLUME, [volume])
        assert result.status is Status.FAIL
        assert "NOT encrypted with a customer-managed key" in result.findings[0].message


def test_without_evidence_the_host_controls_are_errors_live_and_not_applicable_for_a_plan() -> None:
    for source, status in (("live", Status.ERROR), ("plan", Status.NOT_APPLICABLE)):
        facts = Facts(source, "123456789012", ["us-east-1"])  # type: ignore[arg-type]
        facts.missing("hosts", Gap("no host evidence given", status.value))  # type: ignore[arg-type]
        result = evaluate_control(by_id()["host-no-ssh"], facts, dt.date(2026, 11, 24))
        assert result.status is status and "no host evidence given" in result.note


def test_evidence_files_load_one_host_each_and_bad_ones_are_named(tmp_path: Path) -> None:
    (tmp_path / "i-0abc.json").write_text(json.dumps(GOOD))
    (tmp_path / "i-0def.json").write_text(json.dumps({**GOOD, "inventory_host": "i-0def"}))
    assert [h["id"] for h in load(tmp_path)] == ["i-0abc", "i-0def"]
    (tmp_path / "i-0bad.json").write_text("{")
    with pytest.raises(InputError, match=r"i-0bad.json: not readable JSON"):
        load(tmp_path)
    (tmp_path / "i-0bad.json").write_text(json.dumps({"format": "something/else"}))
    with pytest.raises(InputError, match=r"i-0bad.json: not host evidence"):
        load(tmp_path)
    (tmp_path / "i-0bad.json").write_text(json.dumps({k: v for k, v in GOOD.items() if k != "ssh"}))
    with pytest.raises(InputError, match=r"i-0bad.json: no 'ssh' section"):
        load(tmp_path)
    with pytest.raises(InputError, match="no evidence files"):
        load(tmp_path / "empty")
