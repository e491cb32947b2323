"""Creators for AWS Backup: the vault (with its lock) and the plan. The emulator has no backup selections, so a
selection is reported as an emulator gap, and the live audit says it could not read whether a volume is covered
(ERROR), never that it is."""

from __future__ import annotations

from typing import Any

from infra.sandbox.engine import Created, Creator, EmulatorGap, Inputs, Sandbox


def vault(sb: Sandbox, name: str, i: Inputs) -> Created:
    created = sb.client("backup").create_backup_vault(
        BackupVaultName=i["name"], EncryptionKeyArn=i["kmsKeyArn"], BackupVaultTags=i.get("tags") or {}
    )
    return i["name"], {"arn": created["BackupVaultArn"], "name": i["name"]}


def vault_lock(sb: Sandbox, name: str, i: Inputs) -> Created:
    sb.client("backup").put_backup_vault_lock_configuration(
        BackupVaultName=i["backupVaultName"], MinRetentionDays=int(i["minRetentionDays"])
    )
    return i["backupVaultName"], {}


def _rule(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "RuleName": r["ruleName"],
        "TargetBackupVaultName": r["targetVaultName"],
        "ScheduleExpression": r["schedule"],
        "StartWindowMinutes": int(r["startWindow"]),
        "CompletionWindowMinutes": int(r["completionWindow"]),
        "Lifecycle": {"DeleteAfterDays": int(r["lifecycle"]["deleteAfter"])},
        "RecoveryPointTags": r.get("recoveryPointTags") or {},
    }


def plan(sb: Sandbox, name: str, i: Inputs) -> Created:
    created = sb.client("backup").create_backup_plan(
        BackupPlan={"BackupPlanName": i["name"], "Rules": [_rule(r) for r in i["rules"]]},
        BackupPlanTags=i.get("tags") or {},
    )
    return created["BackupPlanId"], {"arn": created["BackupPlanArn"], "version": created["VersionId"]}


def selection(sb: Sandbox, name: str, i: Inputs) -> Created:
    raise EmulatorGap("aws:backup/selection:Selection", "backup:CreateBackupSelection", "not in moto")


CREATORS: dict[str, Creator] = {
    "aws:backup/vault:Vault": vault,
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": vault_lock,
    "aws:backup/plan:Plan": plan,
    "aws:backup/selection:Selection": selection,
}
