"""RDS facts (Aurora clusters with their instances' exposure and their cluster parameters, and standalone instances
with their own) and AWS Backup's vaults and plans (with their rules and selections)."""

from __future__ import annotations

from typing import Any

from compliance.facts import unreadable_marker
from compliance.facts.database import (
    BACKUP_PLANS,
    BACKUP_VAULTS,
    DB_CLUSTERS,
    DB_SNAPSHOTS,
    BackupPlan,
    BackupSelection,
    BackupVault,
    DbCluster,
    DbSnapshot,
)
from compliance.sources.live._client import Scan, Unavailable
from compliance.sources.live._task import Task, value_or_marker


def _parameters(scan: Scan, rds: Any, group: str, instance: bool = False) -> Any:
    """A parameter group's values, defaults included: a cluster's, or a standalone instance's."""
    operation, key = (
        ("describe_db_parameters", "DBParameterGroupName")
        if instance
        else ("describe_db_cluster_parameters", "DBClusterParameterGroupName")
    )
    try:
        return {
            p["ParameterName"]: p.get("ParameterValue")
            for p in scan.pages(rds, operation, "Parameters", **{key: group})
        }
    except Unavailable as exc:
        return unreadable_marker(exc.api, exc.error)


def db_clusters(scan: Scan, region: str, account: str) -> list[DbCluster]:
    rds = scan.client("rds", region)
    instances = list(scan.pages(rds, "describe_db_instances", "DBInstances"))
    out: list[DbCluster] = []
    for c in scan.pages(rds, "describe_db_clusters", "DBClusters"):
        members = [i for i in instances if i.get("DBClusterIdentifier") == c["DBClusterIdentifier"]]
        group = c.get("DBClusterParameterGroup")
        params = _parameters(scan, rds, group) if group else {}
        out.append(
            {
                "id": c["DBClusterIdentifier"],
                "arn": c.get("DBClusterArn"),
                "region": region,
                "kind": "cluster",
                "engine": c.get("Engine"),
                "storage_encrypted": bool(c.get("StorageEncrypted")),
                "kms_key_id": c.get("KmsKeyId"),
                "iam_auth": bool(c.get("IAMDatabaseAuthenticationEnabled")),
                "backup_retention_days": c.get("BackupRetentionPeriod"),
                "publicly_accessible": any(i.get("PubliclyAccessible") for i in members),
                "multi_az": bool(c.get("MultiAZ")),
                "log_exports": list(c.get("EnabledCloudwatchLogsExports") or []),
                "parameters": params,
            }
        )
    return out + [_standalone(scan, rds, region, i) for i in instances if not i.get("DBClusterIdentifier")]


def _standalone(scan: Scan, rds: Any, region: str, i: dict[str, Any]) -> DbCluster:
    """An RDS instance in no cluster (PostgreSQL, MySQL...), judged as a database of its own."""
    groups = [g["DBParameterGroupName"] for g in i.get("DBParameterGroups") or [] if g.get("DBParameterGroupName")]
    return {
        "id": i["DBInstanceIdentifier"],
        "arn": i.get("DBInstanceArn") or f"arn:aws:rds:{region}::db:{i['DBInstanceIdentifier']}",
        "region": region,
        "kind": "instance",
        "engine": i.get("Engine"),
        "storage_encrypted": bool(i.get("StorageEncrypted")),
        "kms_key_id": i.get("KmsKeyId"),
        "iam_auth": bool(i.get("IAMDatabaseAuthenticationEnabled")),
        "backup_retention_days": i.get("BackupRetentionPeriod"),
        "publicly_accessible": bool(i.get("PubliclyAccessible")),
        "multi_az": bool(i.get("MultiAZ")),
        "log_exports": list(i.get("EnabledCloudwatchLogsExports") or []),
        "parameters": _parameters(scan, rds, groups[0], instance=True) if groups else {},
    }


def _restorable_by_all(result: dict[str, Any]) -> bool:
    attributes = result.get("DBClusterSnapshotAttributesResult") or result.get("DBSnapshotAttributesResult") or {}
    listed = attributes.get("DBClusterSnapshotAttributes") or attributes.get("DBSnapshotAttributes") or []
    return any(a.get("AttributeName") == "restore" and "all" in (a.get("AttributeValues") or []) for a in listed)


def db_snapshots(scan: Scan, region: str, account: str) -> list[DbSnapshot]:
    """Manual cluster and instance snapshots (automated ones cannot be shared), and whether any account may
    restore them."""
    rds = scan.client("rds", region)
    out: list[DbSnapshot] = []
    for s in scan.pages(rds, "describe_db_cluster_snapshots", "DBClusterSnapshots", SnapshotType="manual"):
        name = s["DBClusterSnapshotIdentifier"]
        public = value_or_marker(
            scan, rds, "describe_db_cluster_snapshot_attributes", _restorable_by_all, DBClusterSnapshotIdentifier=name
        )
        out.append(
            {"id": name, "arn": s["DBClusterSnapshotArn"], "region": region, "kind": "cluster", "public": public}
        )
    for s in scan.pages(rds, "describe_db_snapshots", "DBSnapshots", SnapshotType="manual"):
        name = s["DBSnapshotIdentifier"]
        public = value_or_marker(
            scan, rds, "describe_db_snapshot_attributes", _restorable_by_all, DBSnapshotIdentifier=name
        )
        out.append({"id": name, "arn": s["DBSnapshotArn"], "region": region, "kind": "instance", "public": public})
    return out


def backup_vaults(scan: Scan, region: str, account: str) -> list[BackupVault]:
    return [
        {
            "name": v["BackupVaultName"],
            "arn": v["BackupVaultArn"],
            "region": region,
            "kms_key_arn": v.get("EncryptionKeyArn"),
            "min_retention_days": v.get("MinRetentionDays") if v.get("Locked") else None,
        }
        for v in scan.pages(scan.client("backup", region), "list_backup_vaults", "BackupVaultList")
    ]


def _selections(scan: Scan, backup: Any, plan_id: str) -> Any:
    """A plan's selections (resources and StringEquals tag conditions), or an unreadable marker."""
    try:
        out: list[BackupSelection] = []
        for entry in scan.pages(backup, "list_backup_selections", "BackupSelectionsList", BackupPlanId=plan_id):
            body = scan.call(backup, "get_backup_selection", BackupPlanId=plan_id, SelectionId=entry["SelectionId"])
            chosen = body["BackupSelection"]
            tags = {t["ConditionKey"]: t["ConditionValue"] for t in chosen.get("ListOfTags") or []
                    if t.get("ConditionType") == "STRINGEQUALS"}  # fmt: skip
            for c in (chosen.get("Conditions") or {}).get("StringEquals") or []:
                tags[str(c["ConditionKey"]).removeprefix("aws:ResourceTag/")] = c["ConditionValue"]
            out.append(
                {"name": chosen["SelectionName"], "resources": list(chosen.get("Resources") or []), "tags": tags}
            )
        return out
    except Unavailable as exc:
        return unreadable_marker(exc.api, exc.error)


def backup_plans(scan: Scan, region: str, account: str) -> list[BackupPlan]:
    backup = scan.client("backup", region)
    out: list[BackupPlan] = []
    for entry in scan.pages(backup, "list_backup_plans", "BackupPlansList"):
        body = scan.call(backup, "get_backup_plan", BackupPlanId=entry["BackupPlanId"])
        rules = body["BackupPlan"].get("Rules") or []
        out.append(
            {
                "id": entry["BackupPlanId"],
                "arn": entry["BackupPlanArn"],
                "name": entry.get("BackupPlanName", entry["BackupPlanId"]),
                "region": region,
                "rules": [
                    {
                        "name": r.get("RuleName", ""),
                        "vault": r.get("TargetBackupVaultName", ""),
                        "delete_after_days": (r.get("Lifecycle") or {}).get("DeleteAfterDays"),
                    }
                    for r in rules
                ],
                "selections": _selections(scan, backup, entry["BackupPlanId"]),
            }
        )
    return out


TASKS: tuple[Task[Any], ...] = (
    Task(DB_CLUSTERS, "regional", db_clusters),
    Task(DB_SNAPSHOTS, "regional", db_snapshots),
    Task(BACKUP_VAULTS, "regional", backup_vaults),
    Task(BACKUP_PLANS, "regional", backup_plans),
)
