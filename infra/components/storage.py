"""The stack's own buckets, each a HardenedBucket encrypted with the data key:

- docs: the PHI documents the gateway ingests (CloudTrail records every object-level access);
- artifacts: the offline install bundle (wheels, OS packages, model weights, checksums);
- ssm-xfer: the scratch bucket Ansible's aws_ssm connection moves files through (objects expire in a day);
- db-archive (host engine only): the host PostgreSQL's base backups and continuous WAL archive, for a
  point-in-time restore. Versioned: a host may delete what its retention expires (it cannot delete a
  version), and a deleted or overwritten object stays recoverable for the retention again.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra.components.bucket import HardenedBucket, HardenedBucketArgs
from infra.config import ClientConfig


@dataclass
class StorageArgs:
    cfg: ClientConfig
    data_key_arn: pulumi.Input[str]
    access_log_bucket: pulumi.Input[str]


class Storage(pulumi.ComponentResource):
    docs_bucket: pulumi.Output[str]
    docs_bucket_arn: pulumi.Output[str]
    artifact_bucket: pulumi.Output[str]
    artifact_bucket_arn: pulumi.Output[str]
    transfer_bucket: pulumi.Output[str]
    transfer_bucket_arn: pulumi.Output[str]
    db_archive_bucket: pulumi.Output[str] | None
    db_archive_bucket_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:storage:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg, key, logs = args.cfg, args.data_key_arn, args.access_log_bucket
        docs = HardenedBucket(f"{name}-docs", HardenedBucketArgs(cfg, "docs", key, logs), child)
        artifacts = HardenedBucket(
            f"{name}-artifacts", HardenedBucketArgs(cfg, "artifacts", key, logs, noncurrent_version_days=90), child
        )
        transfer = HardenedBucket(
            f"{name}-ssm-xfer",
            HardenedBucketArgs(cfg, "ssm-xfer", key, logs, expire_days=1, noncurrent_version_days=1),
            child,
        )
        self.docs_bucket, self.docs_bucket_arn = docs.bucket, docs.arn
        self.artifact_bucket, self.artifact_bucket_arn = artifacts.bucket, artifacts.arn
        self.transfer_bucket, self.transfer_bucket_arn = transfer.bucket, transfer.arn
        self.db_archive_bucket = self.db_archive_bucket_arn = None
        if cfg.vector_store.engine == "host":  # Aurora keeps its own continuous backups
            retention = cfg.vector_store.backup_retention_days
            archive = HardenedBucket(
                f"{name}-db-archive",
                HardenedBucketArgs(cfg, "db-archive", key, logs, noncurrent_version_days=retention),
                child,
            )
            self.db_archive_bucket, self.db_archive_bucket_arn = archive.bucket, archive.arn
        self.register_outputs(
            {
                "docs_bucket": self.docs_bucket,
                "artifact_bucket": self.artifact_bucket,
                "transfer_bucket": self.transfer_bucket,
                "db_archive_bucket": self.db_archive_bucket,
                "db_archive_bucket_arn": self.db_archive_bucket_arn,
            }
        )
