"""Records of Aurora (RDS) clusters, and of the AWS Backup vaults and plans that keep the data recoverable."""

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


class BackupRule(TypedDict):
    name: str
    vault: str  # the target vault's name
    delete_after_days: int | None  # None: kept until deleted by hand


class BackupSelection(TypedDict):
    name: str
    resources: list[str]  # ARNs, * allowed as AWS Backup allows it
    tags: dict[str, str]  # resources selected by these tags (StringEquals)


class BackupPlan(TypedDict):
    id: str
    arn: str
    name: str
    region: str
    rules: list[BackupRule]
    selections: list[BackupSelection] | Unreadable


class BackupVault(TypedDict):
    name: str
    arn: str
    region: str
    kms_key_arn: str | None
    min_retention_days: int | None  # the vault lock's; None when the vault is not locked


BACKUP_PLANS = Kind("backup_plans", BackupPlan)
BACKUP_VAULTS = Kind("backup_vaults", BackupVault)
