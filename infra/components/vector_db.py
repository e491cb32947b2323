"""Aurora PostgreSQL as the vector store (vector_store.engine: aurora). pgvector ships with Aurora.

CMK encryption (storage, Performance Insights, the managed master secret), private data subnets only, IAM
database authentication for the gateway, ``rds.force_ssl`` with TLS 1.2 at least, pgaudit through the
cluster parameter group, 35-day backups by default, deletion protection and a final snapshot. The RDS log
group is created first so AWS never makes an unencrypted, never-expiring one. With engine ``host``, the
Ansible vector_store role installs PostgreSQL + pgvector on the GPU host's encrypted data volume and this
component is not declared.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import naming, policies
from infra.components.firewall import allow_tcp
from infra.components.logs import log_group
from infra.config import ClientConfig

POSTGRES_PORT = 5432
APP_USER = "phistack_app"  # the gateway's database role (stack/migrations): IAM tokens only, through rds_iam
AUDITOR_USER = "phistack_auditor"  # reads the audit trail only (anchors, shipping, verify): IAM tokens too


@dataclass
class VectorDatabaseArgs:
    cfg: ClientConfig
    vpc_id: pulumi.Input[str]
    data_subnet_ids: list[pulumi.Output[str]]
    zones: list[pulumi.Output[str]]  # the data subnets' AZs, in the same order
    data_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    host_security_group_id: pulumi.Input[str]
    host_role_name: pulumi.Input[str]


class VectorDatabase(pulumi.ComponentResource):
    cluster_arn: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    reader_endpoint: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    owner_secret_arn: pulumi.Output[str]
    resource_id: pulumi.Output[str]

    def __init__(self, name: str, args: VectorDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:vector_db:VectorDatabase", name, None, opts)
        self._name, self._args, self._cfg, self._id = name, args, args.cfg, naming.physical(args.cfg)
        self._store, self._child = args.cfg.vector_store, pulumi.ResourceOptions(parent=self)
        sg = self._firewall()
        cluster, subnets = self._cluster(sg, self._parameters())
        self._instances(cluster, subnets)
        self.owner_secret_arn = cluster.master_user_secrets.apply(lambda secrets: (secrets or [{}])[0]["secret_arn"])
        self.resource_id = cluster.cluster_resource_id
        self._host_access(cluster)

        self.cluster_arn = cluster.arn
        self.endpoint = cluster.endpoint
        self.reader_endpoint = cluster.reader_endpoint
        self.security_group_id = sg.id
        self.register_outputs(
            {
                "cluster_arn": self.cluster_arn,
                "endpoint": self.endpoint,
                "reader_endpoint": self.reader_endpoint,
                "security_group_id": self.security_group_id,
                "owner_secret_arn": self.owner_secret_arn,
                "resource_id": self.resource_id,
            }
        )

    def _host_access(self, cluster: aws.rds.Cluster) -> None:
        """The GPU hosts log in as phistack_app with IAM tokens (rds-db:connect on that database user), as
        phistack_auditor to anchor, ship and check the audit trail (SELECT on it only), and read the owner's secret
        to run the migrations (once per deploy, from one host); nothing else of RDS."""
        cfg, p = self._cfg, self._cfg.partition
        app_user, auditor = (
            pulumi.Output.concat(
                f"arn:{p}:rds-db:{cfg.region}:{cfg.account_id}:dbuser:", cluster.cluster_resource_id, f"/{user}"
            )
            for user in (APP_USER, AUDITOR_USER)
        )
        aws.iam.RolePolicy(
            f"{self._name}-host-access",
            role=self._args.host_role_name,
            policy=policies.document(
                {
                    "Sid": "ConnectAsTheApplicationRole",
                    "Effect": "Allow",
                    "Action": "rds-db:connect",
                    "Resource": app_user,
                },
                {
                    "Sid": "ConnectAsTheAuditReader",
                    "Effect": "Allow",
                    "Action": "rds-db:connect",
                    "Resource": auditor,
                },
                {
                    "Sid": "ReadTheOwnerSecretForMigrations",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": self.owner_secret_arn,
                },
            ),
            opts=self._child,
        )

    def _firewall(self) -> aws.ec2.SecurityGroup:
        """The cluster's security group: PostgreSQL from the GPU hosts only (and the hosts' egress to it)."""
        name, args, cfg = self._name, self._args, self._cfg
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="phistack Aurora: PostgreSQL from the GPU hosts only",
            tags=naming.tags(cfg, "vector_db", naming.physical(cfg, "aurora")),
            opts=self._child,
        )
        allow_tcp(
            "in",
            f"{name}-sg-from-hosts",
            self,
            sg.id,
            POSTGRES_PORT,
            "PostgreSQL from the GPU hosts",
            security_group=args.host_security_group_id,
        )
        allow_tcp(
            "out",
            f"{name}-hosts-to-aurora",
            self,
            args.host_security_group_id,
            POSTGRES_PORT,
            "GPU hosts to Aurora",
            security_group=sg.id,
        )
        return sg

    def _parameters(self) -> aws.rds.ClusterParameterGroup:
        """TLS 1.2+ only, pgaudit for DDL, roles and writes (never bind parameters), connections logged."""
        name, cfg, store, cluster_id = self._name, self._cfg, self._store, self._id
        major = store.aurora_engine_version.split(".")[0]
        return aws.rds.ClusterParameterGroup(
            f"{name}-params",
            name=f"{cluster_id}-pg{major}",
            family=f"aurora-postgresql{major}",
            description=f"phistack {cfg.client}: TLS only, pgaudit",
            parameters=[
                {"name": "rds.force_ssl", "value": "1"},
                {"name": "ssl_min_protocol_version", "value": "TLSv1.2"},
                {
                    "name": "shared_preload_libraries",
                    "value": "pg_stat_statements,pgaudit",
                    "apply_method": "pending-reboot",
                },
                # DDL, role changes and writes are audited in the database; reads of PHI are audited by
                # the gateway, per request. Bind parameters (which can hold PHI) are never logged.
                {"name": "pgaudit.log", "value": "ddl,role,write"},
                {"name": "pgaudit.log_parameter", "value": "0"},
                {"name": "pgaudit.role", "value": "rds_pgaudit"},
                {"name": "log_connections", "value": "1"},
                {"name": "log_disconnections", "value": "1"},
            ],
            tags=naming.tags(cfg, "vector_db"),
            opts=self._child,
        )

    def _cluster(
        self, sg: aws.ec2.SecurityGroup, params: aws.rds.ClusterParameterGroup
    ) -> tuple[aws.rds.Cluster, aws.rds.SubnetGroup]:
        """The encrypted, IAM-authenticated, deletion-protected cluster in the data subnets, its log group first."""
        name, args, cfg, store, cluster_id = self._name, self._args, self._cfg, self._store, self._id
        subnets = aws.rds.SubnetGroup(
            f"{name}-subnets",
            name=cluster_id,
            subnet_ids=args.data_subnet_ids,
            tags=naming.tags(cfg, "vector_db"),
            opts=self._child,
        )
        logs = log_group(
            self, f"{name}-logs", cfg, f"/aws/rds/cluster/{cluster_id}/postgresql", args.logs_key_arn, "vector_db"
        )
        cluster = aws.rds.Cluster(
            f"{name}-cluster",
            cluster_identifier=cluster_id,
            engine="aurora-postgresql",
            engine_mode="provisioned",
            engine_version=store.aurora_engine_version,
            database_name="phistack",
            master_username="phistack_admin",
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.data_key_arn,
            storage_encrypted=True,
            kms_key_id=args.data_key_arn,
            iam_database_authentication_enabled=True,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[sg.id],
            db_cluster_parameter_group_name=params.name,
            backup_retention_period=store.backup_retention_days,
            preferred_backup_window="03:00-04:00",
            copy_tags_to_snapshot=True,
            deletion_protection=True,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{cluster_id}-final",
            enabled_cloudwatch_logs_exports=["postgresql"],
            serverlessv2_scaling_configuration={
                "min_capacity": store.aurora_min_acu,
                "max_capacity": store.aurora_max_acu,
            },
            tags=naming.tags(cfg, "vector_db", cluster_id),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs], protect=True),
        )
        return cluster, subnets

    def _instances(self, cluster: aws.rds.Cluster, subnets: aws.rds.SubnetGroup) -> None:
        """A writer and a reader (serverless v2), private, Performance Insights under the data key."""
        name, args, cfg, store, cluster_id = self._name, self._args, self._cfg, self._store, self._id
        for i in range(2):  # a writer and a reader, pinned to different AZs (AWS would choose freely)
            aws.rds.ClusterInstance(
                f"{name}-instance-{i}",
                identifier=f"{cluster_id}-{i}",
                cluster_identifier=cluster.id,
                availability_zone=args.zones[i % len(args.zones)],
                engine="aurora-postgresql",
                engine_version=store.aurora_engine_version,
                instance_class="db.serverless",
                db_subnet_group_name=subnets.name,
                publicly_accessible=False,
                performance_insights_enabled=True,
                performance_insights_kms_key_id=args.data_key_arn,
                auto_minor_version_upgrade=True,
                ca_cert_identifier="rds-ca-rsa2048-g1",
                copy_tags_to_snapshot=True,
                tags=naming.tags(cfg, "vector_db", f"{cluster_id}-{i}"),
                opts=self._child,
            )
