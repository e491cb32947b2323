"""RDS/Aurora facts: clusters with their instances' exposure and their cluster parameters."""

from __future__ import annotations

from typing import Any

from compliance.facts import unreadable_marker
from compliance.facts.database import DB_CLUSTERS, DbCluster
from compliance.sources.live._client import Scan, Unavailable
from compliance.sources.live._task import Task


def _parameters(scan: Scan, rds: Any, group: str) -> Any:
    try:
        return {
            p["ParameterName"]: p.get("ParameterValue")
            for p in scan.pages(rds, "describe_db_cluster_parameters", "Parameters", DBClusterParameterGroupName=group)
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
                "engine": c.get("Engine"),
                "storage_encrypted": bool(c.get("StorageEncrypted")),
                "kms_key_id": c.get("KmsKeyId"),
                "iam_auth": bool(c.get("IAMDatabaseAuthenticationEnabled")),
                "backup_retention_days": c.get("BackupRetentionPeriod"),
                "publicly_accessible": any(i.get("PubliclyAccessible") for i in members),
                "parameters": params,
            }
        )
    return out


TASKS: tuple[Task[Any], ...] = (Task(DB_CLUSTERS, "regional", db_clusters),)
