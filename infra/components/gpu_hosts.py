"""The GPU hosts: vLLM, the RAG gateway and (by default) PostgreSQL run here.

Least-privilege instance profile; the official Debian 13 AMI (the installer's only OS) from its SSM parameter;
IMDSv2 required with hop limit 1; no public IP; no key pair (Ansible arrives through SSM); root and data
volumes encrypted with the EBS key (the data volume is its own resource, so replacing a host keeps it);
detailed monitoring; a security group whose only inbound rule is the gateway port from the private access
path. More than one host puts an internal network load balancer with TLS 1.2+ in front.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import bootstrap, naming, policies
from infra.components.backups import BACKUP_TAG
from infra.components.firewall import allow_tcp
from infra.components.logs import log_group
from infra.config import ClientConfig

HOST_LOG_GROUPS = ("hosts/journald", "hosts/auditd", "gateway/audit")


@dataclass
class GpuHostsArgs:
    cfg: ClientConfig
    vpc_id: pulumi.Input[str]
    app_subnet_ids: list[pulumi.Output[str]]
    s3_prefix_list_id: pulumi.Input[str]
    data_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    ebs_key_arn: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    docs_bucket_arn: pulumi.Input[str]
    transfer_bucket_arn: pulumi.Input[str]
    docs_event_queue_arns: tuple[pulumi.Input[str], pulumi.Input[str]]  # the event queue, its dead-letter queue
    source_cidrs: list[str]
    source_security_group_id: pulumi.Input[str] | None
    db_archive_bucket_arn: pulumi.Input[str] | None = None  # the host engine's backups and WAL archive
    access_log_bucket: pulumi.Input[str] | None = None  # where the gateway load balancer writes its access logs
    audit_archive_bucket_arn: pulumi.Input[str] | None = None  # the Object-Locked archive: audit-chain anchors


@dataclass(frozen=True)
class HostParts:
    """What every GPU host shares: the AMI, its security group, its instance profile, its first-boot script."""

    ami: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    profile_name: pulumi.Input[str]
    user_data: str


class GpuHosts(pulumi.ComponentResource):
    instance_ids: list[pulumi.Output[str]]
    private_ips: list[pulumi.Output[str]]
    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    load_balancer_dns: pulumi.Output[str] | None
    log_groups: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: GpuHostsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:gpu_hosts:GpuHosts", name, None, opts)
        self._name = name
        cfg = args.cfg
        child = pulumi.ResourceOptions(parent=self)

        self.log_groups = {
            purpose: log_group(
                self,
                f"{name}-{purpose.replace('/', '-')}",
                cfg,
                naming.log_group_name(cfg, purpose),
                args.logs_key_arn,
                "gpu_hosts",
            ).name
            for purpose in HOST_LOG_GROUPS
        }
        role = self._role(name, cfg, args)
        profile = aws.iam.InstanceProfile(
            f"{name}-profile", role=role.name, tags=naming.tags(cfg, "gpu_hosts"), opts=child
        )

        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="phistack GPU hosts: gateway port from the private access path only",
            tags=naming.tags(cfg, "gpu_hosts", naming.physical(cfg, "gpu-hosts")),
            opts=child,
        )
        self._rules(name, cfg, sg, args)

        first_boot = bootstrap.user_data(cfg.region)
        ami = aws.ssm.get_parameter_output(name=cfg.gpu.ami_ssm_parameter, opts=pulumi.InvokeOutputOptions(parent=self))
        self.instance_ids, self.private_ips = [], []
        for i in range(cfg.gpu.count):
            instance = self._host(i, args, HostParts(ami.value, sg.id, profile.name, first_boot))
            self.instance_ids.append(instance.id)
            self.private_ips.append(instance.private_ip)

        self.load_balancer_dns = self._load_balancer(name, cfg, sg, args) if cfg.gpu.count > 1 else None
        self.role_arn = role.arn
        self.role_name = role.name
        self.security_group_id = sg.id
        self.register_outputs(
            {
                "instance_ids": self.instance_ids,
                "private_ips": self.private_ips,
                "role_arn": self.role_arn,
                "role_name": self.role_name,
                "security_group_id": self.security_group_id,
                "load_balancer_dns": self.load_balancer_dns,
                "log_groups": self.log_groups,
            }
        )

    def _host(self, i: int, args: GpuHostsArgs, parts: HostParts) -> aws.ec2.Instance:
        """GPU host i: private, IMDSv2 only, encrypted root volume, and a protected, encrypted data volume."""
        name, cfg, child = self._name, args.cfg, pulumi.ResourceOptions(parent=self)
        host_name = naming.physical(cfg, f"gpu-{i}")
        instance = aws.ec2.Instance(
            f"{name}-{i}",
            ami=parts.ami,
            instance_type=cfg.gpu.instance_type,
            subnet_id=args.app_subnet_ids[i % len(args.app_subnet_ids)],
            vpc_security_group_ids=[parts.security_group_id],
            iam_instance_profile=parts.profile_name,
            associate_public_ip_address=False,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            monitoring=True,
            ebs_optimized=True,
            # First boot: the SSM agent, signature-checked, through the S3 gateway endpoint (infra/bootstrap.py).
            user_data=parts.user_data,
            user_data_replace_on_change=False,
            root_block_device={
                "encrypted": True,
                "kms_key_id": args.ebs_key_arn,
                "volume_type": "gp3",
                "volume_size": cfg.gpu.root_volume_gb,
                "delete_on_termination": True,
            },
            tags=naming.tags(cfg, "gpu_hosts", host_name) | {"phistack:role": "gpu-host"},
            volume_tags=naming.tags(cfg, "gpu_hosts", f"{host_name}-root") | {"phistack:volume": "root"},
            # A newer Debian AMI must not replace a running host: hosts are patched in place
            # by Ansible, and replaced deliberately (pulumi up --replace).
            # The user data only runs at first boot: a changed script (a rotated key) must not stop or replace a
            # running host either.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["ami", "userData"]),
        )
        volume = aws.ebs.Volume(
            f"{name}-{i}-data",
            availability_zone=instance.availability_zone,
            size=cfg.gpu.data_volume_gb,
            type="gp3",
            encrypted=True,
            kms_key_id=args.ebs_key_arn,
            # The host's PHI store (PostgreSQL with engine host, the audit spool): AWS Backup selects it by this tag.
            tags=naming.tags(cfg, "gpu_hosts", f"{host_name}-data")
            | {"phistack:volume": "data", BACKUP_TAG[0]: BACKUP_TAG[1]},
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        aws.ec2.VolumeAttachment(
            f"{name}-{i}-data-attachment",
            device_name="/dev/sdf",
            volume_id=volume.id,
            instance_id=instance.id,
            opts=child,
        )
        return instance

    def _role(self, name: str, cfg: ClientConfig, args: GpuHostsArgs) -> aws.iam.Role:
        child = pulumi.ResourceOptions(parent=self)
        p, region, account = cfg.partition, cfg.region, cfg.account_id
        role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=policies.document(
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ),
            tags=naming.tags(cfg, "gpu_hosts"),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm-core",
            role=role.name,
            policy_arn=f"arn:{p}:iam::aws:policy/AmazonSSMManagedInstanceCore",
            opts=child,
        )
        groups = [f"arn:{p}:logs:{region}:{account}:log-group:{naming.log_group_name(cfg, g)}" for g in HOST_LOG_GROUPS]

        def objects(arn: pulumi.Input[str]) -> pulumi.Output[str]:
            return pulumi.Output.concat(arn, "/*")

        # The host engine's WAL archive and base backups: write, read back, and delete what the retention expires.
        # Never s3:DeleteObjectVersion: the bucket is versioned, so a deleted object stays recoverable.
        archive: list[policies.Statement] = []
        listed: list[pulumi.Input[str]] = []
        if args.db_archive_bucket_arn is not None:
            archive.append(
                {
                    "Sid": "ArchiveDatabase",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": objects(args.db_archive_bucket_arn),
                }
            )
            listed.append(args.db_archive_bucket_arn)

        # The gateway's audit-chain anchors (stack/anchors.py): written once and read back under their prefix of
        # the Object-Locked archive, never deleted; encrypted with the logs key, through S3 only.
        if args.audit_archive_bucket_arn is not None:
            anchors = pulumi.Output.concat(args.audit_archive_bucket_arn, f"/{naming.ANCHOR_PREFIX}/*")
            archive += [
                {
                    "Sid": "WriteAndReadAuditAnchors",
                    "Effect": "Allow",
                    "Action": ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"],
                    "Resource": anchors,
                },
                {
                    "Sid": "ListAuditAnchors",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                    "Resource": args.audit_archive_bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": f"{naming.ANCHOR_PREFIX}/*"}},
                },
                {
                    "Sid": "EncryptAuditAnchors",
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey"],
                    "Resource": [args.logs_key_arn],
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
                },
            ]

        aws.iam.RolePolicy(
            f"{name}-least-privilege",
            role=role.id,
            policy=policies.document(
                {
                    "Sid": "ReadInstallBundle",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                    "Resource": objects(args.artifact_bucket_arn),
                },
                {
                    "Sid": "ReadWriteDocuments",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                    "Resource": objects(args.docs_bucket_arn),
                },
                {
                    "Sid": "ConsumeDocumentEvents",
                    "Effect": "Allow",
                    "Action": [
                        "sqs:ReceiveMessage",
                        "sqs:DeleteMessage",
                        "sqs:ChangeMessageVisibility",
                        "sqs:GetQueueAttributes",
                    ],
                    "Resource": args.docs_event_queue_arns[0],
                },
                {
                    "Sid": "DeadLetterUnreadableDocuments",
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"],
                    "Resource": args.docs_event_queue_arns[1],
                },
                {
                    "Sid": "SsmFileTransfer",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": objects(args.transfer_bucket_arn),
                },
                *archive,
                {
                    "Sid": "ListOwnBuckets",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                    "Resource": [args.artifact_bucket_arn, args.docs_bucket_arn, args.transfer_bucket_arn, *listed],
                },
                {
                    "Sid": "WriteOwnLogGroups",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    "Resource": [f"{g}:*" for g in groups],
                },
                {
                    "Sid": "UseDataKey",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    "Resource": [args.data_key_arn],
                },
                {
                    "Sid": "DecryptSessionManagerSessions",
                    "Effect": "Allow",
                    "Action": ["kms:Decrypt"],
                    "Resource": [args.logs_key_arn],
                },
                {
                    "Sid": "AgentMetrics",
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"cloudwatch:namespace": ["CWAgent", f"phistack/{cfg.client}"]}},
                },
                {
                    "Sid": "ReadOwnParameters",
                    "Effect": "Allow",
                    "Action": ["ssm:GetParameter", "ssm:GetParameters"],
                    "Resource": f"arn:{p}:ssm:{region}:{account}:parameter/phistack/{cfg.client}/*",
                },
            ),
            opts=child,
        )
        return role

    def _rules(self, name: str, cfg: ClientConfig, sg: aws.ec2.SecurityGroup, args: GpuHostsArgs) -> None:
        for i, cidr in enumerate(args.source_cidrs):
            allow_tcp(
                "in",
                f"{name}-sg-gateway-from-client-{i}",
                self,
                sg.id,
                cfg.gateway_port,
                "RAG gateway from the client's network (transit gateway)",
                cidr=cidr,
            )
        if args.source_security_group_id is not None:
            allow_tcp(
                "in",
                f"{name}-sg-gateway-from-vpn",
                self,
                sg.id,
                cfg.gateway_port,
                "RAG gateway from client VPN",
                security_group=args.source_security_group_id,
            )
        allow_tcp(
            "out",
            f"{name}-sg-https-to-endpoints",
            self,
            sg.id,
            443,
            "AWS APIs through interface endpoints",
            cidr=cfg.vpc_cidr,
        )
        allow_tcp(
            "out",
            f"{name}-sg-https-to-s3",
            self,
            sg.id,
            443,
            "S3 through the gateway endpoint",
            prefix_list=args.s3_prefix_list_id,
        )

    def _load_balancer(
        self, name: str, cfg: ClientConfig, host_sg: aws.ec2.SecurityGroup, args: GpuHostsArgs
    ) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        lb_sg = aws.ec2.SecurityGroup(
            f"{name}-nlb-sg",
            vpc_id=args.vpc_id,
            description="phistack gateway load balancer",
            tags=naming.tags(cfg, "gpu_hosts", naming.physical(cfg, "gateway-nlb")),
            opts=child,
        )
        sources: list[tuple[str, dict[str, pulumi.Input[str]]]] = [
            (f"client-{i}", {"cidr": c}) for i, c in enumerate(args.source_cidrs)
        ]
        if args.source_security_group_id is not None:
            sources.append(("vpn", {"security_group": args.source_security_group_id}))
        # Session Manager port forwarding reaches the balancer from a host.
        sources.append(("hosts", {"security_group": host_sg.id}))
        for label, source in sources:
            allow_tcp(
                "in",
                f"{name}-nlb-sg-443-from-{label}",
                self,
                lb_sg.id,
                443,
                f"TLS from {label}",
                **source,
            )
        allow_tcp(
            "out",
            f"{name}-nlb-sg-to-hosts",
            self,
            lb_sg.id,
            cfg.gateway_port,
            "to the gateways",
            security_group=host_sg.id,
        )
        allow_tcp(
            "in",
            f"{name}-sg-gateway-from-nlb",
            self,
            host_sg.id,
            cfg.gateway_port,
            "RAG gateway from the internal load balancer",
            security_group=lb_sg.id,
        )
        lb = aws.lb.LoadBalancer(
            f"{name}-nlb",
            name=naming.physical(cfg)[:32],
            internal=True,
            load_balancer_type="network",
            subnets=args.app_subnet_ids,
            security_groups=[lb_sg.id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=True,
            access_logs=(
                {"bucket": args.access_log_bucket, "prefix": naming.LOAD_BALANCER_LOG_PREFIX, "enabled": True}
                if args.access_log_bucket is not None
                else None
            ),
            tags=naming.tags(cfg, "gpu_hosts"),
            opts=child,
        )
        target_group = aws.lb.TargetGroup(
            f"{name}-targets",
            port=cfg.gateway_port,
            protocol="TLS",
            vpc_id=args.vpc_id,
            target_type="instance",
            # Readiness, not liveness: a host whose gateway cannot reach the database or its engine answers 503
            # and leaves rotation after two checks (20 s), and returns after three good ones.
            health_check={
                "protocol": "HTTPS",
                "path": "/readyz",
                "port": "traffic-port",
                "matcher": "200",
                "interval": 10,
                "healthy_threshold": 3,
                "unhealthy_threshold": 2,
            },
            tags=naming.tags(cfg, "gpu_hosts"),
            opts=child,
        )
        for i, instance_id in enumerate(self.instance_ids):
            aws.lb.TargetGroupAttachment(
                f"{name}-targets-{i}",
                target_group_arn=target_group.arn,
                target_id=instance_id,
                port=cfg.gateway_port,
                opts=child,
            )
        aws.lb.Listener(
            f"{name}-nlb-tls",
            load_balancer_arn=lb.arn,
            port=443,
            protocol="TLS",
            certificate_arn=cfg.gateway_certificate_arn,
            ssl_policy="ELBSecurityPolicy-TLS13-1-2-2021-06",
            default_actions=[{"type": "forward", "target_group_arn": target_group.arn}],
            tags=naming.tags(cfg, "gpu_hosts"),
            opts=child,
        )
        dns_name: pulumi.Output[str] = lb.dns_name
        return dns_name
