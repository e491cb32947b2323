"""Records of Aurora (RDS) clusters and their manual snapshots, and of the AWS Backup vaults and plans that
keep the data recoverable."""

from __future__ import annotations

from typing import TypedDict

from compliance.facts._kind import Kind, Unreadable


class DbCluster(TypedDict):
    """A database the account runs: an Aurora cluster (its instances' exposure folded in) or a standalone RDS
    instance, judged alike by the rds-* controls."""

    id: str
    arn: str
    region: str
    kind: str  # "cluster" (Aurora) or "instance" (a standalone RDS instance, in no cluster)
    engine: str | None
    storage_encrypted: bool
    kms_key_id: str | None
    iam_auth: bool
    backup_retention_days: int | None
    publicly_accessible: bool
    multi_az: bool  # a cluster's instances span more than one AZ; an instance has a Multi-AZ standby
    log_exports: list[str]  # log types exported to CloudWatch Logs ("postgresql")
    parameters: dict[str, str] | Unreadable  # the cluster's (or the instance's) parameter group's values


class DbSnapshot(TypedDict):
    id: str
    arn: str
    region: str
    kind: str  # "cluster" (Aurora) or "instance"
    public: bool | Unreadable  # restorable by any AWS account ("all" in its restore attribute)


DB_CLUSTERS = Kind("db_clusters", DbCluster)
DB_SNAPSHOTS = Kind("db_snapshots", DbSnapshot)


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
