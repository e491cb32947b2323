"""Compliance fixtures: a fully compliant set of facts to mutate, built from the example client's plan."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compliance.assessment import assess
from compliance.controls import by_id, catalog
from compliance.facts import Context, Facts
from compliance.sources.plan import facts_from_plan
from compliance.waivers import load_waivers
from infra.config import parse_client_config
from infra.plan import run_plan

MakeFacts = Callable[[], Facts]

# The host PostgreSQL's archive as playbooks/verify.yml reports it on a correctly installed host.
ARCHIVED = {
    "archive_mode": "on",
    "archive_command": "/usr/local/sbin/phistack-db-archive wal-push %p",
    "archive_timeout": "1min",
    "archived_count": 42,
    "last_archived_wal": "00000001000000000000002A",
    "last_archived_time": "2026-11-24T09:59:00+00:00",
    "failed_count": 0,
    "last_failed_time": None,
    "base_backups": 3,
    "newest_backup_end": "2026-11-24T02:10:00+00:00",
}


# `phistack-gateway audit verify --anchors --json` on a host whose trail is intact and anchored.
ANCHORED = {
    "format": "phistack/audit-verify/v1",
    "outcome": "intact",
    "events": 1200,
    "anchors": 12,
    "last_anchor": {"host": "gw-a", "number": 12, "seq": 1180, "at": "2026-11-24T09:55:00+00:00"},
    "shipped": None,
    "problems": [],
}


@pytest.fixture(scope="session")
def example_plan(example_raw: dict[str, str]) -> dict[str, object]:
    cfg = parse_client_config(example_raw, "example")
    return run_plan(cfg, example_raw, "example").to_json(example_raw)


@pytest.fixture(scope="session")
def _compliant(example_plan: dict[str, object]) -> Facts:
    facts = facts_from_plan(example_plan)
    region, account = facts.regions[0], facts.account
    data_key = next(k["arn"] for k in facts.items["kms_keys"])
    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).isoformat()
    # What a plan cannot know, as a compliant live account would show it.
    facts.gaps.clear()
    facts.items.update(
        {
            "ebs_encryption_defaults": facts.items.get("ebs_encryption_defaults", []),
            "snapshots": [
                {
                    "id": "snap-0a1b2c3d4e5f60718",
                    "region": region,
                    "public": False,
                    "encrypted": True,
                    "kms_key_id": facts.items["volumes"][0]["kms_key_id"],
                }
            ],
            "db_snapshots": [
                {
                    "id": "phistack-db-before-upgrade",
                    "arn": f"arn:aws:rds:{region}:{account}:cluster-snapshot:phistack-db-before-upgrade",
                    "region": region,
                    "kind": "cluster",
                    "public": False,
                }
            ],
            "patch_compliance": [
                {
                    "resource_id": i["id"],
                    "region": region,
                    "status": "COMPLIANT",
                    "non_compliant": 0,
                    "scanned_at": recent,
                }
                for i in facts.items["instances"]
            ],
            "guardduty_findings": [
                {"detector_id": d["id"], "region": d["region"], "open_high": []}
                for d in facts.items["guardduty_detectors"]
            ],
            "load_balancers": [
                {
                    "arn": f"arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/net/gateway/0123456789abcdef",
                    "name": "gateway",
                    "region": region,
                    "type": "network",
                    "deletion_protection": True,
                    "access_logs_bucket": "phistack-example-clinic-access-logs",
                    "listeners": [
                        {"port": 443, "protocol": "TLS", "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}
                    ],
                }
            ],
            "certificates": [
                {
                    "arn": f"arn:aws:acm:{region}:{account}:certificate/0a1b2c3d-1111-2222-3333-444455556666",
                    "region": region,
                    "domain": "rag.clinic.example",
                    "status": "ISSUED",
                    "not_after": (dt.datetime.now(dt.UTC) + dt.timedelta(days=200)).isoformat(),
                    "in_use_by": [
                        f"arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/net/gateway/0123456789abcdef"
                    ],
                }
            ],
            "ssm_managed_instances": [
                {"id": i["id"], "region": region, "ping_status": "Online"} for i in facts.items["instances"]
            ],
            "launch_templates": [
                {"id": "lt-0123456789abcdef0", "name": "gpu", "region": region, "imds_http_tokens": "required"}
            ],
            "iam_root": [{"region": "global", "access_keys_present": False, "mfa_enabled": True, "mfa_virtual": False}],
            "iam_users": [
                {
                    "name": "alice",
                    "arn": f"arn:aws:iam::{account}:user/alice",
                    "region": "global",
                    "created": recent,
                    "password_enabled": True,
                    "password_last_used": recent,
                    "mfa_active": True,
                    "access_keys": [{"id": "AKIAEXAMPLE", "active": True, "created": recent, "last_used": recent}],
                }
            ],
            "db_clusters": [
                {
                    "id": "phistack-db",
                    "arn": f"arn:aws:rds:{region}:{account}:cluster:phistack-db",
                    "region": region,
                    "engine": "aurora-postgresql",
                    "storage_encrypted": True,
                    "kms_key_id": data_key,
                    "iam_auth": True,
                    "backup_retention_days": 35,
                    "publicly_accessible": False,
                    "multi_az": True,
                    "log_exports": ["postgresql"],
                    "parameters": {"rds.force_ssl": "1"},
                }
            ],
        }
    )
    for instance in facts.items["instances"]:
        instance["launch_time"] = recent
    modern = {"TLSv1": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}
    phi = ["/data/postgresql", "/opt/phistack"]
    facts.items["hosts"] = [  # as playbooks/verify.yml reports a correctly installed host
        {
            "id": instance["id"],
            "region": "global",
            "tls": {
                name: {"address": f"127.0.0.1:{port}", "accepted": modern, "plaintext": False}
                for name, port in (("postgresql", 5432), ("gateway", 8443), ("engine", 8000))
            },
            "phi_paths": phi,
            "auditd": {"rules_loaded": 212, "enabled": "2", "phi_paths_watched": phi},
            "ssh": {"units": {"ssh.service": "inactive", "ssh.socket": "inactive"}, "port_22_listening": False},
            "services": {
                f"{unit}.service": {"expected_user": user, "user": user, "active": "active"}
                for unit, user in (("phistack-gateway", "phistack-gateway"), ("phistack-llm", "phistack-llm"))
            },
            "data_volume": {
                "path": "/data/postgresql",
                "source": "/dev/nvme1n1",
                "fstype": "xfs",
                "ebs_volume_id": facts.items["volumes"][0]["id"],
            },
            "collected_at": "2026-11-24T10:00:00+00:00",
            "archive": dict(ARCHIVED),
            "audit_trail": copy.deepcopy(ANCHORED),
        }
        for instance in facts.items["instances"]
    ]
    facts.context = Context(
        client="example-clinic",
        attestations={
            "baa_aws_signed": "2026-01-15",
            "baa_client_signed": "2026-02-01",
            "risk_analysis_completed": dt.date.today().isoformat(),
            "workforce_training_completed": dt.date.today().isoformat(),
            "contingency_plan_tested": dt.date.today().isoformat(),
        },
    )
    return facts


@pytest.fixture
def compliant(_compliant: Facts) -> MakeFacts:
    """A fresh deep copy per call: tests mutate it freely."""
    return lambda: copy.deepcopy(_compliant)


@pytest.fixture
def mixed_report(compliant: MakeFacts, tmp_path: Path) -> tuple[dict[str, Any], Any]:
    """An assessment with every status: FAIL, ERROR, WAIVED, MANUAL, NOT_APPLICABLE and PASS."""
    facts = compliant()
    facts.items["buckets"][0]["versioning"] = None  # FAIL
    facts.items["kms_keys"][0]["rotation_enabled"] = False  # WAIVED below
    facts.items["trails"][0]["kms_key_id"] = None  # FAIL
    facts.items["buckets"][1]["policy"] = {"unreadable": {"api": "s3:GetBucketPolicy", "error": "AccessDenied"}}
    facts.items["instances"][0]["public_ip"] = "<script>alert(1)</script>"  # must come out escaped
    facts.context.attestations["workforce_training_completed"] = None  # MANUAL
    facts.items["db_clusters"] = []  # NOT_APPLICABLE
    waivers_file = tmp_path / "w.yaml"
    waivers_file.write_text(
        "waivers:\n  - control: kms-rotation\n    resource: '*'\n    justification: HSM-backed, "
        "rotated by hand.\n    approver: ciso@clinic.example\n    expires: 2099-01-01\n"
    )
    assessment = assess(facts, catalog(), load_waivers(waivers_file, set(by_id())), "test")
    return assessment.to_json(), assessment
