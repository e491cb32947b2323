"""VPC endpoints: the only way the hosts reach AWS APIs.

An S3 gateway endpoint on every private route table, whose policy admits only the stack's own buckets and the
regional AWS-owned buckets that the SSM agent's package and what the agent reads are served from. The hosts' own
packages come from the stack's artifact bucket (the offline bundle). Interface endpoints with private DNS for the
required services, in a security group that admits 443 from the VPC only, each with a policy that admits only this
account's principals.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import naming, policies
from infra.bootstrap import bucket_of, ssm_agent_url
from infra.components.firewall import allow_tcp
from infra.config import ClientConfig

# The PrivateLink service table lists these two as not supporting endpoint policies: AWS applies its
# full-access default and refuses a custom one, so none is sent.
NO_ENDPOINT_POLICY = frozenset({"ssmmessages", "ec2messages"})


def regional_aws_buckets(region: str) -> list[str]:
    """AWS-owned buckets a private Debian 13 host needs: the one its first-boot script installs the SSM agent from
    (infra/bootstrap.py), and those the agent itself reads (its documents, packages, patch baselines, distributor
    files). The CloudWatch agent comes from the offline bundle, so its bucket is not admitted."""
    return [
        bucket_of(ssm_agent_url(region)),
        f"aws-ssm-{region}",
        f"amazon-ssm-packages-{region}",
        f"{region}-birdwatcher-prod",
        f"aws-ssm-distributor-file-{region}",
        f"aws-ssm-document-attachments-{region}",
        f"patch-baseline-snapshot-{region}",
    ]


@dataclass
class EndpointsArgs:
    cfg: ClientConfig
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Output[str]]
    route_table_ids: list[pulumi.Output[str]]
    stack_bucket_arns: list[pulumi.Input[str]]


class Endpoints(pulumi.ComponentResource):
    s3_endpoint_id: pulumi.Output[str]
    s3_prefix_list_id: pulumi.Output[str]
    interface_endpoint_ids: dict[str, pulumi.Output[str]]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: EndpointsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:endpoints:Endpoints", name, None, opts)
        cfg = args.cfg
        child = pulumi.ResourceOptions(parent=self)
        region = cfg.region

        s3 = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=args.vpc_id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=args.route_table_ids,
            policy=_s3_policy(cfg, args),
            tags=naming.tags(cfg, "endpoints", naming.physical(cfg, "s3")),
            opts=child,
        )

        sg = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="phistack interface endpoints: HTTPS from inside the VPC only",
            tags=naming.tags(cfg, "endpoints", naming.physical(cfg, "endpoints")),
            opts=child,
        )
        allow_tcp(
            "in",
            f"{name}-sg-https-from-vpc",
            self,
            sg.id,
            443,
            "HTTPS from the VPC",
            cidr=cfg.vpc_cidr,
        )

        self.interface_endpoint_ids = self._interfaces(name, args, sg)

        self.s3_endpoint_id = s3.id
        self.s3_prefix_list_id = s3.prefix_list_id
        self.security_group_id = sg.id
        self.register_outputs(
            {
                "s3_endpoint_id": self.s3_endpoint_id,
                "s3_prefix_list_id": self.s3_prefix_list_id,
                "interface_endpoint_ids": self.interface_endpoint_ids,
                "security_group_id": self.security_group_id,
            }
        )

    def _interfaces(self, name: str, args: EndpointsArgs, sg: aws.ec2.SecurityGroup) -> dict[str, pulumi.Output[str]]:
        """One interface endpoint per required service, private DNS on, usable by this account's principals only."""
        cfg, region, child = args.cfg, args.cfg.region, pulumi.ResourceOptions(parent=self)
        same_account = policies.document(
            {
                "Sid": "ThisAccountOnly",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalAccount": cfg.account_id}},
            }
        )
        ids: dict[str, pulumi.Output[str]] = {}
        for service in cfg.interface_endpoints:
            endpoint = aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=args.vpc_id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=args.subnet_ids,
                security_group_ids=[sg.id],
                policy=None if service in NO_ENDPOINT_POLICY else same_account,
                tags=naming.tags(cfg, "endpoints", naming.physical(cfg, f"{service}")),
                opts=child,
            )
            ids[service] = endpoint.id
        return ids


def _s3_policy(cfg: ClientConfig, args: EndpointsArgs) -> pulumi.Output[str]:
    """The S3 gateway endpoint admits this account to the stack's buckets, and anyone to read AWS's own regional
    buckets (package repositories, the SSM agent): nothing else, so no data leaves for another account's bucket."""
    p, region = cfg.partition, cfg.region
    aws_owned = [f"arn:{p}:s3:::{b}" for b in regional_aws_buckets(region)]
    stack_arns = pulumi.Output.all(*args.stack_bucket_arns)
    return policies.document(
        {
            "Sid": "StackBuckets",
            "Effect": "Allow",
            "Principal": "*",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:ListBucket",
                "s3:GetBucketLocation",
                "s3:GetObjectVersion",
                "s3:ListBucketVersions",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
            "Resource": stack_arns.apply(lambda arns: [x for a in arns for x in (a, f"{a}/*")]),
            "Condition": {"StringEquals": {"aws:PrincipalAccount": cfg.account_id}},
        },
        {
            "Sid": "AwsOwnedRegionalBucketsReadOnly",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": [f"{a}/*" for a in aws_owned],
        },
    )
