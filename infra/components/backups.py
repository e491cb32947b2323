"""AWS Backup for the GPU hosts' data volumes: a vault encrypted with the stack's data key and locked against early
deletion, a daily plan kept `vector_store.backup_retention_days`, selecting every EBS volume this stack tags
``phistack:backup = daily`` (the data volumes: PostgreSQL with the knowledge base and the audit trail when the
engine is host, the audit spool and the served weights either way).

A snapshot of a running PostgreSQL's volume is crash-consistent: data and WAL are on the one volume, so a volume
restored from it starts as after a power loss, with everything committed before the snapshot (see the README's
restore procedure). Aurora keeps its own automated backups (vector_db); this plan covers the hosts either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import naming, policies
from infra.config import ClientConfig

BACKUP_TAG = ("phistack:backup", "daily")
SCHEDULE = "cron(0 5 * * ? *)"  # 05:00 UTC daily, after Aurora's 03:00-04:00 window


@dataclass
class HostBackupsArgs:
    cfg: ClientConfig
    data_key_arn: pulumi.Input[str]


class HostBackups(pulumi.ComponentResource):
    vault_arn: pulumi.Output[str]
    plan_id: pulumi.Output[str]

    def __init__(self, name: str, args: HostBackupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:backups:HostBackups", name, None, opts)
        cfg, child = args.cfg, pulumi.ResourceOptions(parent=self)
        retention = cfg.vector_store.backup_retention_days
        vault = aws.backup.Vault(
            f"{name}-vault",
            name=naming.physical(cfg, "backups"),
            kms_key_arn=args.data_key_arn,
            tags=naming.tags(cfg, "backups"),
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        # Governance mode (no changeable_for_days): nobody deletes a recovery point before its retention, and
        # only an administrator with backup:DeleteBackupVaultLockConfiguration can lift the lock.
        aws.backup.VaultLockConfiguration(
            f"{name}-vault-lock",
            backup_vault_name=vault.name,
            min_retention_days=retention,
            opts=child,
        )
        plan = aws.backup.Plan(
            f"{name}-plan",
            name=naming.physical(cfg, "daily"),
            rules=[
                {
                    "rule_name": "daily",
                    "target_vault_name": vault.name,
                    "schedule": SCHEDULE,
                    "start_window": 60,
                    "completion_window": 240,
                    "lifecycle": {"delete_after": retention},
                    "recovery_point_tags": naming.tags(cfg, "backups"),
                }
            ],
            tags=naming.tags(cfg, "backups"),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=policies.service_trust("backup.amazonaws.com", cfg.account_id),
            tags=naming.tags(cfg, "backups"),
            opts=child,
        )
        for purpose in ("Backup", "Restores"):
            aws.iam.RolePolicyAttachment(
                f"{name}-role-{purpose.lower()}",
                role=role.name,
                policy_arn=f"arn:{cfg.partition}:iam::aws:policy/service-role/AWSBackupServiceRolePolicyFor{purpose}",
                opts=child,
            )
        key, value = BACKUP_TAG
        aws.backup.Selection(
            f"{name}-data-volumes",
            name="data-volumes",
            plan_id=plan.id,
            iam_role_arn=role.arn,
            resources=[f"arn:{cfg.partition}:ec2:{cfg.region}:{cfg.account_id}:volume/*"],
            # Conditions narrow the resources (AND); selection_tags would add to them (OR) and select any type.
            conditions=[{"string_equals": [{"key": f"aws:ResourceTag/{key}", "value": value}]}],
            opts=child,
        )
        self.vault_arn = vault.arn
        self.plan_id = plan.id
        self.register_outputs({"vault_arn": self.vault_arn, "plan_id": self.plan_id})
