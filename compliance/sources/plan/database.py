"""Aurora clusters and standalone RDS instances, and the AWS Backup vaults and plans, as planned."""

from __future__ import annotations

from typing import Any

from compliance.facts import Facts, Gap, Item
from compliance.facts.database import (
    BACKUP_PLANS,
    BACKUP_VAULTS,
    DB_CLUSTERS,
    DB_SNAPSHOTS,
    BackupPlan,
    BackupRule,
    BackupSelection,
    BackupVault,
    DbCluster,
)
from compliance.sources.plan._reader import PlanReader, arn_of, whole


def add(p: PlanReader, f: Facts) -> None:
    region = p.region
    clusters = []
    instances = p.of("aws:rds/clusterInstance:ClusterInstance")
    groups: dict[Any, Item] = {
        g.get("name", g["_id"]): g for g in p.of("aws:rds/clusterParameterGroup:ClusterParameterGroup")
    }
    for c in p.of("aws:rds/cluster:Cluster"):
        group = groups.get(c.get("dbClusterParameterGroupName")) or {}
        clusters.append(
            DbCluster(
                id=c.get("clusterIdentifier") or c["_id"],
                arn=arn_of(c),
                region=region,
                kind="cluster",
                engine=c.get("engine"),
                storage_encrypted=bool(c.get("storageEncrypted")),
                kms_key_id=c.get("kmsKeyId"),
                iam_auth=bool(c.get("iamDatabaseAuthenticationEnabled")),
                backup_retention_days=whole(c.get("backupRetentionPeriod", 1)),
                publicly_accessible=any(i.get("publiclyAccessible") for i in instances),
                multi_az=_spans_zones(instances),
                log_exports=list(c.get("enabledCloudwatchLogsExports") or []),
                parameters={prm["name"]: prm["value"] for prm in group.get("parameters", [])},
            )
        )
    f.add(DB_CLUSTERS, clusters + _standalone(p))
    f.missing(
        DB_SNAPSHOTS, Gap("database snapshots are taken after deployment; the live audit checks them", "NOT_APPLICABLE")
    )
    _backups(p, f)


def _standalone(p: PlanReader) -> list[DbCluster]:
    groups = {g.get("name", g["_id"]): g for g in p.of("aws:rds/parameterGroup:ParameterGroup")}
    return [
        DbCluster(
            id=i.get("identifier") or i["_id"],
            arn=arn_of(i),
            region=p.region,
            kind="instance",
            engine=i.get("engine"),
            storage_encrypted=bool(i.get("storageEncrypted")),
            kms_key_id=i.get("kmsKeyId"),
            iam_auth=bool(i.get("iamDatabaseAuthenticationEnabled")),
            backup_retention_days=whole(i.get("backupRetentionPeriod", 0)),
            publicly_accessible=bool(i.get("publiclyAccessible")),
            multi_az=bool(i.get("multiAz")),
            log_exports=list(i.get("enabledCloudwatchLogsExports") or []),
            parameters={
                prm["name"]: prm["value"]
                for prm in (groups.get(i.get("parameterGroupName")) or {}).get("parameters", [])
            },
        )
        for i in p.of("aws:rds/instance:Instance")
    ]


def _spans_zones(instances: list[Item]) -> bool:
    """Two instances or more, each pinned to an AZ and not all the same one (AWS's own choice is not knowable)."""
    zones = [i.get("availabilityZone") for i in instances]
    return len(zones) > 1 and all(zones) and len(set(zones)) > 1


def _selection(s: Item) -> BackupSelection:
    """Resources by ARN, and the tag conditions AWS Backup ANDs with them (StringEquals on aws:ResourceTag/...)."""
    tags = {t["key"]: t["value"] for t in s.get("selectionTags") or [] if t.get("type") == "STRINGEQUALS"}
    for group in s.get("conditions") or []:
        for condition in group.get("stringEquals") or []:
            tags[str(condition["key"]).removeprefix("aws:ResourceTag/")] = condition["value"]
    return BackupSelection(name=str(s.get("name") or s["_id"]), resources=list(s.get("resources") or []), tags=tags)


def _backups(p: PlanReader, f: Facts) -> None:
    locks = {v.get("backupVaultName"): v for v in p.of("aws:backup/vaultLockConfiguration:VaultLockConfiguration")}
    f.add(
        BACKUP_VAULTS,
        [
            BackupVault(
                name=str(v.get("name") or v["_id"]),
                arn=arn_of(v),
                region=p.region,
                kms_key_arn=v.get("kmsKeyArn"),
                min_retention_days=whole((locks.get(v.get("name")) or {}).get("minRetentionDays")),
            )
            for v in p.of("aws:backup/vault:Vault")
        ],
    )
    selections = p.of("aws:backup/selection:Selection")
    f.add(
        BACKUP_PLANS,
        [
            BackupPlan(
                id=plan["_id"],
                arn=arn_of(plan),
                name=str(plan.get("name") or plan["_id"]),
                region=p.region,
                rules=[
                    BackupRule(
                        name=r.get("ruleName", ""),
                        vault=r.get("targetVaultName", ""),
                        delete_after_days=whole((r.get("lifecycle") or {}).get("deleteAfter")),
                    )
                    for r in plan.get("rules") or []
                ],
                selections=[_selection(s) for s in selections if s.get("planId") == plan["_id"]],
            )
            for plan in p.of("aws:backup/plan:Plan")
        ],
    )
