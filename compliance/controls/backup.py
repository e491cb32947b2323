"""AWS Backup: the volumes that hold PHI are in a plan that keeps them, in vaults encrypted with a CMK and locked."""

from __future__ import annotations

import fnmatch
from typing import Any

from compliance.controls._base import Record, control, each, ec2_arn, finding
from compliance.facts import Facts, unreadable
from compliance.facts.compute import VOLUMES
from compliance.facts.database import BACKUP_PLANS, BACKUP_VAULTS
from compliance.facts.storage import KMS_KEYS
from compliance.model import Control, Finding, Status

MIN_RETENTION_DAYS = 7


def _phi_volumes(facts: Facts) -> list[Record]:
    """Volumes tagged as holding PHI, other than the hosts' root volumes (Debian and the bundle, no PHI)."""
    return [
        v
        for v in facts.get(VOLUMES)
        if (v.get("tags") or {}).get("data-classification") == "phi"
        and (v.get("tags") or {}).get("phistack:volume") != "root"
    ]


def _selects(selection: Record, arn: str, tags: dict[str, str]) -> bool:
    resources = selection.get("resources") or []
    by_arn = not resources or any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources)
    return by_arn and all(tags.get(k) == v for k, v in (selection.get("tags") or {}).items())


def _keeps(plan: Record, vaults: set[str]) -> bool:
    """A rule that backs up into an existing vault and keeps recovery points at least MIN_RETENTION_DAYS."""
    return any(
        r.get("vault") in vaults
        and (r.get("delete_after_days") is None or r["delete_after_days"] >= MIN_RETENTION_DAYS)
        for r in plan.get("rules") or []
    )


def volumes_covered(facts: Facts) -> list[Finding]:
    plans = facts.get(BACKUP_PLANS)
    out: list[Finding] = []
    for v in _phi_volumes(facts):
        arn = ec2_arn(facts, v, "volume")
        tags = dict(v.get("tags") or {})
        vaults = {x["name"] for x in facts.get(BACKUP_VAULTS) if x["region"] == v["region"]}
        regional = [p for p in plans if p["region"] == v["region"]]
        covering = [
            p["name"]
            for p in regional
            if unreadable(p.get("selections")) is None
            and _keeps(p, vaults)
            and any(_selects(s, arn, tags) for s in p["selections"] if isinstance(s, dict))
        ]
        blind = [p for p in regional if unreadable(p.get("selections")) is not None]
        if covering:
            status, message = Status.PASS, f"Volume {v['id']} is backed up by plan {covering[0]}."
        elif blind:
            reason = unreadable(blind[0]["selections"]) or {}
            status = Status.ERROR
            message = (
                f"Whether volume {v['id']} is backed up could not be read: the selections of plan "
                f"{blind[0]['name']} ({reason.get('api')} answered {reason.get('error')})."
            )
        else:
            status = Status.FAIL
            message = (
                f"Volume {v['id']} holds PHI and no backup plan selects it with a rule that keeps recovery points "
                f"{MIN_RETENTION_DAYS} days or more."
            )
        out.append(finding(status, arn, "AWS::EC2::Volume", v["region"], message, plans=[p["name"] for p in regional]))
    return out


def _target_vaults(facts: Facts) -> list[Record]:
    """The vaults some plan backs up into (AWS's lazily created Default vault is judged only when it is used)."""
    targets = {(p["region"], r.get("vault")) for p in facts.get(BACKUP_PLANS) for r in p.get("rules") or []}
    return [v for v in facts.get(BACKUP_VAULTS) if (v["region"], v["name"]) in targets]


def vaults_encrypted(facts: Facts) -> list[Finding]:
    cmks = {k["arn"] for k in facts.get(KMS_KEYS) if k.get("manager") == "CUSTOMER"}

    def judge(v: Record) -> tuple[bool, str, dict[str, Any]]:
        if v.get("kms_key_arn") in cmks:
            return True, f"Backup vault {v['name']} is encrypted with customer-managed key {v['kms_key_arn']}.", {}
        return (
            False,
            f"Backup vault {v['name']} is encrypted with {v.get('kms_key_arn')}, not a customer-managed key.",
            {},
        )

    return each(_target_vaults(facts), (), lambda v: v["arn"], "AWS::Backup::BackupVault", lambda v: v["name"], judge)


def vaults_locked(facts: Facts) -> list[Finding]:
    def judge(v: Record) -> tuple[bool, str, dict[str, Any]]:
        days = v.get("min_retention_days")
        if days is not None and days >= MIN_RETENTION_DAYS:
            return True, f"Backup vault {v['name']} is locked: no recovery point is deleted before {days} days.", {}
        state = "is not locked" if days is None else f"is locked for only {days} days"
        return False, f"Backup vault {v['name']} {state}: its recovery points can be deleted at once.", {}

    return each(_target_vaults(facts), (), lambda v: v["arn"], "AWS::Backup::BackupVault", lambda v: v["name"], judge)


CONTROLS: tuple[Control, ...] = (
    control(
        "backup-phi-volumes",
        f"Volumes holding PHI are backed up and kept at least {MIN_RETENTION_DAYS} days",
        "high",
        ("164.308(a)(7)(ii)(A)", "164.308(a)(7)(ii)(B)", "164.310(d)(2)(iv)"),
        ("volumes", "backup_plans", "backup_vaults"),
        (
            "ec2:DescribeVolumes",
            "backup:ListBackupPlans",
            "backup:GetBackupPlan",
            "backup:ListBackupSelections",
            "backup:GetBackupSelection",
            "backup:ListBackupVaults",
        ),  # fmt: skip
        "The data backup plan must keep exact copies of ePHI that can be restored: the host engine keeps the "
        "knowledge base and the audit trail on one EBS volume.",
        "Tag the volume phistack:backup=daily (the stack's plan selects that tag) or add it to a backup plan.",
        volumes_covered,
    ),
    control(
        "backup-vault-encrypted-cmk",
        "Backup vaults are encrypted with a customer-managed key",
        "high",
        ("164.312(a)(2)(iv)", "164.308(a)(7)(ii)(A)"),
        ("backup_plans", "backup_vaults", "kms_keys"),
        ("backup:ListBackupPlans", "backup:GetBackupPlan", "backup:ListBackupVaults", "kms:ListKeys"),
        "Backups are copies of PHI: their key must be one the client controls and can revoke.",
        "A vault's key is set at creation: create a vault with the stack's data key and point the plan at it.",
        vaults_encrypted,
    ),
    control(
        "backup-vault-locked",
        f"Backup vaults are locked against deleting recovery points before {MIN_RETENTION_DAYS} days",
        "medium",
        ("164.308(a)(7)(ii)(A)", "164.312(c)(1)"),
        ("backup_plans", "backup_vaults"),
        ("backup:ListBackupPlans", "backup:GetBackupPlan", "backup:ListBackupVaults"),
        "Ransomware and a careless administrator delete backups first; a vault lock refuses it.",
        "aws backup put-backup-vault-lock-configuration --backup-vault-name NAME --min-retention-days 7",
        vaults_locked,
    ),
)
