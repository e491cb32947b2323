"""Records of Aurora (RDS) clusters."""

from __future__ import annotations

from typing import TypedDict

from compliance.facts._kind import Kind, Unreadable


class DbCluster(TypedDict):
    id: str
    arn: str
    region: str
    engine: str | None
    storage_encrypted: bool
    kms_key_id: str | None
    iam_auth: bool
    backup_retention_days: int | None
    publicly_accessible: bool
    parameters: dict[str, str] | Unreadable  # the cluster parameter group's values


DB_CLUSTERS = Kind("db_clusters", DbCluster)
