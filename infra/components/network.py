"""The private network: a VPC over two or more AZs with private subnets only, and no way out.

No internet gateway, NAT gateway or egress-only gateway is declared, and no route leaves the VPC except
through VPC endpoints (and, in transit-gateway mode, routes to the client's own private networks, added by
the access component). The default security group and default NACL are stripped of every rule; subnets
use a NACL that admits the VPC, return traffic on Linux's ephemeral ports (for the S3 gateway endpoint,
whose answers come from S3's public addresses) and the configured client networks. VPC flow logs record
ALL traffic into a KMS-encrypted log group.

``allow_internet_egress`` is the one opt-out: it adds a public subnet, an internet gateway and a NAT
gateway. The compliance controls fail on all three; it exists for clients whose risk analysis accepts it.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import naming, policies
from infra.components.logs import log_group
from infra.config import ClientConfig

EPHEMERAL_PORTS = (32768, 65535)  # Linux ip_local_port_range starts at 32768; excludes 22 and 3389.


@dataclass
class PrivateNetworkArgs:
    cfg: ClientConfig
    logs_key_arn: pulumi.Input[str]


def _nacl_rules(cfg: ClientConfig) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    ingress: list[dict[str, object]] = [
        {"rule_no": 100, "action": "allow", "protocol": "-1", "cidr_block": cfg.vpc_cidr, "from_port": 0, "to_port": 0},
        {
            "rule_no": 110,
            "action": "allow",
            "protocol": "6",
            "cidr_block": "0.0.0.0/0",
            "from_port": EPHEMERAL_PORTS[0],
            "to_port": EPHEMERAL_PORTS[1],
        },
    ]
    egress: list[dict[str, object]] = [
        {"rule_no": 100, "action": "allow", "protocol": "-1", "cidr_block": cfg.vpc_cidr, "from_port": 0, "to_port": 0},
        {
            "rule_no": 110,
            "action": "allow",
            "protocol": "6",
            "cidr_block": "0.0.0.0/0",
            "from_port": 443,
            "to_port": 443,
        },
    ]
    for i, cidr in enumerate(cfg.access.client_cidrs):
        ingress.append(
            {
                "rule_no": 200 + i,
                "action": "allow",
                "protocol": "6",
                "cidr_block": cidr,
                "from_port": cfg.gateway_port,
                "to_port": cfg.gateway_port,
            }
        )
        egress.append(
            {
                "rule_no": 200 + i,
                "action": "allow",
                "protocol": "6",
                "cidr_block": cidr,
                "from_port": 1024,
                "to_port": 65535,
            }
        )
    return ingress, egress


def _nth_zone(i: int, names: list[str]) -> str:
    return names[i % len(names)]


class PrivateNetwork(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    app_subnet_ids: list[pulumi.Output[str]]
    data_subnet_ids: list[pulumi.Output[str]]
    route_table_ids: list[pulumi.Output[str]]
    flow_log_group: pulumi.Output[str]

    def __init__(self, name: str, args: PrivateNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("phistack:network:PrivateNetwork", name, None, opts)
        cfg = args.cfg
        child = pulumi.ResourceOptions(parent=self)
        zones = aws.get_availability_zones_output(
            state="available",
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        vpc = self._vpc(name, cfg)
        blocks = list(cfg.network.subnets(new_prefix=cfg.subnet_prefix))
        n = cfg.az_count
        self._private_subnets(name, cfg, vpc, blocks, zones)

        ingress, egress = _nacl_rules(cfg)
        aws.ec2.NetworkAcl(
            f"{name}-nacl",
            vpc_id=vpc.id,
            subnet_ids=self.app_subnet_ids + self.data_subnet_ids,
            ingress=ingress,
            egress=egress,
            tags=naming.tags(cfg, "network", naming.physical(cfg, "private")),
            opts=child,
        )

        if cfg.allow_internet_egress:
            self._internet_egress(name, cfg, vpc, blocks[2 * n], zones)

        self.flow_log_group = self._flow_logs(name, cfg, vpc, args.logs_key_arn)
        self.vpc_id = vpc.id
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "app_subnet_ids": self.app_subnet_ids,
                "data_subnet_ids": self.data_subnet_ids,
                "route_table_ids": self.route_table_ids,
                "zones": self.zones,
                "flow_log_group": self.flow_log_group,
            }
        )

    def _vpc(self, name: str, cfg: ClientConfig) -> aws.ec2.Vpc:
        """The VPC, its default security group emptied and its default NACL denying everything."""
        child = pulumi.ResourceOptions(parent=self)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cfg.vpc_cidr,
            enable_dns_support=True,  # interface endpoints' private DNS needs both
            enable_dns_hostnames=True,
            assign_generated_ipv6_cidr_block=False,
            tags=naming.tags(cfg, "network", naming.physical(cfg)),
            opts=child,
        )
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=vpc.id,
            ingress=[],
            egress=[],
            tags=naming.tags(cfg, "network", naming.physical(cfg, "default-unused")),
            opts=child,
        )
        aws.ec2.DefaultNetworkAcl(
            f"{name}-default-nacl",
            default_network_acl_id=vpc.default_network_acl_id,
            ingress=[],
            egress=[],
            tags=naming.tags(cfg, "network", naming.physical(cfg, "default-deny")),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["subnetIds"]),
        )
        return vpc

    def _private_subnets(
        self,
        name: str,
        cfg: ClientConfig,
        vpc: aws.ec2.Vpc,
        blocks: list[ipaddress.IPv4Network],
        zones: pulumi.Output[aws.GetAvailabilityZonesResult],
    ) -> None:
        """Per AZ: a route table with only the local route, an app and a data subnet, no public IPs."""
        child, n = pulumi.ResourceOptions(parent=self), cfg.az_count
        self.app_subnet_ids, self.data_subnet_ids, self.route_table_ids = [], [], []
        self.zones: list[pulumi.Output[str]] = []  # the AZ of the i-th app and data subnet
        for i in range(n):
            az = zones.names.apply(functools.partial(_nth_zone, i))
            self.zones.append(az)
            table = aws.ec2.RouteTable(
                f"{name}-rt-{i}",
                vpc_id=vpc.id,
                tags=naming.tags(cfg, "network", naming.physical(cfg, f"private-{i}")),
                opts=child,
            )
            self.route_table_ids.append(table.id)
            for tier, block, ids in (
                ("app", blocks[i], self.app_subnet_ids),
                ("data", blocks[n + i], self.data_subnet_ids),
            ):
                subnet = aws.ec2.Subnet(
                    f"{name}-{tier}-{i}",
                    vpc_id=vpc.id,
                    cidr_block=str(block),
                    availability_zone=az,
                    map_public_ip_on_launch=False,
                    assign_ipv6_address_on_creation=False,
                    tags=naming.tags(cfg, "network", naming.physical(cfg, f"{tier}-{i}")) | {"phistack:tier": tier},
                    opts=child,
                )
                aws.ec2.RouteTableAssociation(
                    f"{name}-{tier}-{i}-rt", subnet_id=subnet.id, route_table_id=table.id, opts=child
                )
                ids.append(subnet.id)

    def _internet_egress(
        self,
        name: str,
        cfg: ClientConfig,
        vpc: aws.ec2.Vpc,
        block: object,
        zones: pulumi.Output[aws.GetAvailabilityZonesResult],
    ) -> None:
        """OPT-OUT (allow_internet_egress): a public subnet with an IGW and a NAT for the private tables."""
        child = pulumi.ResourceOptions(parent=self)
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=naming.tags(cfg, "network", naming.physical(cfg, "igw")), opts=child
        )
        public = aws.ec2.Subnet(
            f"{name}-public-0",
            vpc_id=vpc.id,
            cidr_block=str(block),
            availability_zone=zones.names.apply(lambda names: names[0]),
            map_public_ip_on_launch=False,
            tags=naming.tags(cfg, "network", naming.physical(cfg, "public-0")) | {"phistack:tier": "public"},
            opts=child,
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-rt-public",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags=naming.tags(cfg, "network", naming.physical(cfg, "public")),
            opts=child,
        )
        aws.ec2.RouteTableAssociation(
            f"{name}-public-0-rt", subnet_id=public.id, route_table_id=public_rt.id, opts=child
        )
        eip = aws.ec2.Eip(f"{name}-nat-eip", domain="vpc", tags=naming.tags(cfg, "network"), opts=child)
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            subnet_id=public.id,
            allocation_id=eip.id,
            tags=naming.tags(cfg, "network", naming.physical(cfg, "nat")),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
        )
        for i, table_id in enumerate(self.route_table_ids):
            aws.ec2.Route(
                f"{name}-rt-{i}-default",
                route_table_id=table_id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nat.id,
                opts=child,
            )

    def _flow_logs(
        self, name: str, cfg: ClientConfig, vpc: aws.ec2.Vpc, logs_key_arn: pulumi.Input[str]
    ) -> pulumi.Output[str]:
        group = log_group(
            self, f"{name}-flow-logs", cfg, naming.log_group_name(cfg, "vpc-flow-logs"), logs_key_arn, "network"
        )
        source = f"arn:{cfg.partition}:ec2:{cfg.region}:{cfg.account_id}:vpc-flow-log/*"
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=policies.service_trust("vpc-flow-logs.amazonaws.com", cfg.account_id, source),
            tags=naming.tags(cfg, "network"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=role.id,
            policy=policies.document(
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    "Resource": [group.arn, group.arn.apply(lambda a: f"{a}:*")],
                },
                {"Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "*"},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=naming.tags(cfg, "network"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        group_name: pulumi.Output[str] = group.name
        return group_name
