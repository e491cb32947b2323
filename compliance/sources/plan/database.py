"""Aurora clusters as planned."""

from __future__ import annotations

from typing import Any

from compliance.facts import Facts, Item
from compliance.facts.database import DB_CLUSTERS, DbCluster
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
                engine=c.get("engine"),
                storage_encrypted=bool(c.get("storageEncrypted")),
                kms_key_id=c.get("kmsKeyId"),
                iam_auth=bool(c.get("iamDatabaseAuthenticationEnabled")),
                backup_retention_days=whole(c.get("backupRetentionPeriod", 1)),
                publicly_accessible=any(i.get("publiclyAccessible") for i in instances),
                parameters={prm["name"]: prm["value"] for prm in group.get("parameters", [])},
            )
        )
    f.add(DB_CLUSTERS, clusters)
