"""Network isolation: no path between the PHI hosts and the internet; AWS reached through endpoints only.
The judges of security groups and NACLs are in ``firewalls``; every network control is declared here."""

from __future__ import annotations

from typing import Any

from compliance.controls._base import (
    INTERNET_V4,
    INTERNET_V6,
    Record,
    control,
    each,
    ec2_arn,
    finding,
    regional_absence,
)
from compliance.controls.firewalls import (
    default_sg_closed,
    nacl_no_admin_ports_from_internet,
    nacl_no_all_traffic_from_internet,
    sg_egress_within_vpc,
    sg_no_internet_ingress,
)
from compliance.facts import Facts, Kind
from compliance.facts.network import (
    EGRESS_ONLY_GATEWAYS,
    FLOW_LOGS,
    INTERNET_GATEWAYS,
    NAT_GATEWAYS,
    ROUTE_TABLES,
    SUBNETS,
    VPC_ENDPOINTS,
    VPCS,
)
from compliance.model import Control, Finding, Status

TRANSMISSION = ("164.312(e)(1)", "164.308(a)(1)(ii)(B)")
ACCESS = ("164.312(a)(1)", "164.312(e)(1)")


def _gateways(facts: Facts, kind: Kind[Any], rtype: str, what: str, arn_kind: str) -> list[Finding]:
    items: list[Record] = facts.get(kind)
    if not items:
        return regional_absence(facts, rtype, what)
    return [
        finding(
            Status.FAIL,
            ec2_arn(facts, g, arn_kind),
            rtype,
            g["region"],
            f"{what.capitalize()} {g['id']} exists"
            + (
                f" (VPC {', '.join(g['vpc_ids'])})"
                if g.get("vpc_ids")
                else f" (VPC {g['vpc_id']})"
                if g.get("vpc_id")
                else ""
            )
            + ": it gives the VPC a path to or from the internet.",
            gateway=g,
        )
        for g in items
    ]


def no_internet_gateway(facts: Facts) -> list[Finding]:
    return _gateways(facts, INTERNET_GATEWAYS, "AWS::EC2::InternetGateway", "internet gateway", "internet-gateway")


def no_nat_gateway(facts: Facts) -> list[Finding]:
    live = [g for g in facts.get(NAT_GATEWAYS) if g.get("state") not in ("deleted", "deleting", "failed")]
    if not live:
        return regional_absence(facts, "AWS::EC2::NatGateway", "NAT gateway")
    return [
        finding(
            Status.FAIL,
            ec2_arn(facts, g, "natgateway"),
            "AWS::EC2::NatGateway",
            g["region"],
            f"NAT gateway {g['id']} in VPC {g.get('vpc_id')} gives private subnets a route to the internet.",
            gateway=g,
        )
        for g in live
    ]


def no_egress_only_gateway(facts: Facts) -> list[Finding]:
    return _gateways(
        facts,
        EGRESS_ONLY_GATEWAYS,
        "AWS::EC2::EgressOnlyInternetGateway",
        "egress-only internet gateway",
        "egress-only-internet-gateway",
    )


def no_default_route(facts: Facts) -> list[Finding]:
    def judge(table: Record) -> tuple[bool, str, dict[str, Any]]:
        wide = [r for r in table["routes"] if r.get("destination") in (INTERNET_V4, INTERNET_V6)]
        if wide:
            routes = ", ".join(f"{r['destination']} -> {r.get('target')}" for r in wide)
            return (
                False,
                f"Route table {table['id']} (VPC {table['vpc_id']}) has a default route: {routes}.",
                {"routes": wide},
            )
        return True, f"Route table {table['id']} (VPC {table['vpc_id']}) has no 0.0.0.0/0 or ::/0 route.", {}

    tables = facts.get(ROUTE_TABLES)
    return each(
        tables,
        ("routes",),
        lambda t: ec2_arn(facts, t, "route-table"),
        "AWS::EC2::RouteTable",
        lambda t: f"route table {t['id']}",
        judge,
    )


def subnets_no_public_ip(facts: Facts) -> list[Finding]:
    def judge(s: Record) -> tuple[bool, str, dict[str, Any]]:
        if s["map_public_ip_on_launch"]:
            return False, f"Subnet {s['id']} (VPC {s['vpc_id']}) gives every instance launched in it a public IP.", {}
        return True, f"Subnet {s['id']} (VPC {s['vpc_id']}) does not assign public IPs.", {}

    return each(
        facts.get(SUBNETS),
        ("map_public_ip_on_launch",),
        lambda s: ec2_arn(facts, s, "subnet"),
        "AWS::EC2::Subnet",
        lambda s: f"subnet {s['id']}",
        judge,
    )


def flow_logs_all(facts: Facts) -> list[Finding]:
    logs = facts.get(FLOW_LOGS)

    def judge(vpc: Record) -> tuple[bool, str, dict[str, Any]]:
        mine = [f for f in logs if f.get("resource_id") == vpc["id"]]
        full = [f for f in mine if f.get("traffic_type") == "ALL"]
        if full:
            return True, f"VPC {vpc['id']} records ALL traffic in flow log {full[0]['id']}.", {"flow_logs": full}
        if mine:
            return (
                False,
                (
                    f"VPC {vpc['id']} has flow logs for {mine[0].get('traffic_type')} traffic only; "
                    "rejected and accepted traffic are both needed."
                ),
                {"flow_logs": mine},
            )
        return False, f"VPC {vpc['id']} has no flow log.", {}

    return each(
        facts.get(VPCS), (), lambda v: ec2_arn(facts, v, "vpc"), "AWS::EC2::VPC", lambda v: f"VPC {v['id']}", judge
    )


def required_endpoints(facts: Facts) -> list[Finding]:
    endpoints = facts.get(VPC_ENDPOINTS)
    required = ("s3", *facts.context.required_endpoints)

    def judge(vpc: Record) -> tuple[bool, str, dict[str, Any]]:
        present = {e["service"] for e in endpoints if e.get("vpc_id") == vpc["id"]}
        missing = [s for s in required if s not in present]
        if missing:
            return (
                False,
                f"VPC {vpc['id']} lacks VPC endpoints for: {', '.join(missing)}.",
                {"present": sorted(present)},
            )
        return (
            True,
            f"VPC {vpc['id']} has endpoints for all {len(required)} required services.",
            {"present": sorted(present)},
        )

    vpcs = [v for v in facts.get(VPCS) if not v.get("is_default")]
    return each(vpcs, (), lambda v: ec2_arn(facts, v, "vpc"), "AWS::EC2::VPC", lambda v: f"VPC {v['id']}", judge)


CONTROLS: tuple[Control, ...] = (
    control(
        "net-no-internet-gateway",
        "No internet gateway exists",
        "critical",
        TRANSMISSION,
        ("internet_gateways",),
        ("ec2:DescribeInternetGateways",),
        "An internet gateway is the only way a VPC exchanges traffic with the internet; PHI hosts must have none.",
        "Detach and delete the internet gateway; reach AWS APIs through VPC endpoints.",
        no_internet_gateway,
    ),
    control(
        "net-no-default-route",
        "No route table sends 0.0.0.0/0 or ::/0 anywhere",
        "critical",
        TRANSMISSION,
        ("route_tables",),
        ("ec2:DescribeRouteTables",),
        "A default route is how traffic would leave for the internet through any gateway or appliance.",
        "Delete the 0.0.0.0/0 and ::/0 routes; add routes only for the client's private networks.",
        no_default_route,
    ),
    control(
        "net-no-nat-gateway",
        "No NAT gateway exists",
        "critical",
        TRANSMISSION,
        ("nat_gateways",),
        ("ec2:DescribeNatGateways",),
        "A NAT gateway lets private hosts send data to the internet, so PHI could leave undetected.",
        "Delete the NAT gateway and its route; serve packages from the artifact bucket instead.",
        no_nat_gateway,
    ),
    control(
        "net-no-egress-only-gateway",
        "No egress-only internet gateway exists",
        "high",
        TRANSMISSION,
        ("egress_only_gateways",),
        ("ec2:DescribeEgressOnlyInternetGateways",),
        "An egress-only gateway gives IPv6 traffic a way to the internet.",
        "Delete the egress-only internet gateway and the VPC's IPv6 default route.",
        no_egress_only_gateway,
    ),
    control(
        "net-subnets-no-public-ip",
        "No subnet assigns public IPs on launch",
        "high",
        ACCESS,
        ("subnets",),
        ("ec2:DescribeSubnets",),
        "A subnet that maps public IPs makes every instance in it addressable from the internet.",
        "aws ec2 modify-subnet-attribute --subnet-id ID --no-map-public-ip-on-launch",
        subnets_no_public_ip,
    ),
    control(
        "net-default-sg-closed",
        "Default security groups have no rules",
        "medium",
        ACCESS,
        ("security_groups",),
        ("ec2:DescribeSecurityGroups",),
        "Resources fall into the default group when none is named; it must admit and send nothing.",
        "Remove every inbound and outbound rule of the default security group.",
        default_sg_closed,
    ),
    control(
        "net-sg-no-internet-ingress",
        "No security group admits traffic from the internet",
        "critical",
        ACCESS,
        ("security_groups",),
        ("ec2:DescribeSecurityGroups",),
        "Any port open to 0.0.0.0/0 or ::/0 exposes the service behind it to the internet.",
        "Replace 0.0.0.0/0 and ::/0 sources with the client's private networks or a security group.",
        sg_no_internet_ingress,
    ),
    control(
        "net-sg-egress-within-vpc",
        "Security groups send only inside the VPC or to endpoint prefix lists",
        "high",
        TRANSMISSION,
        ("security_groups", "vpcs", "vpc_endpoints"),
        ("ec2:DescribeSecurityGroups", "ec2:DescribeVpcs", "ec2:DescribeVpcEndpoints"),
        "Open egress is how data is exfiltrated; hosts need only VPC endpoints and each other.",
        "Replace 0.0.0.0/0 egress with the VPC CIDR, peer security groups or the S3 endpoint prefix list.",
        sg_egress_within_vpc,
    ),
    control(
        "net-nacl-no-admin-ports",
        "No network ACL admits SSH or RDP from the internet",
        "high",
        ACCESS,
        ("network_acls",),
        ("ec2:DescribeNetworkAcls",),
        "Remote administration ports reachable from the internet are the first thing attackers try.",
        "Add deny entries for 22 and 3389 from 0.0.0.0/0 ahead of any allow, or narrow the allow range.",
        nacl_no_admin_ports_from_internet,
    ),
    control(
        "net-nacl-no-all-traffic",
        "No network ACL admits all traffic from the internet",
        "high",
        ACCESS,
        ("network_acls",),
        ("ec2:DescribeNetworkAcls",),
        "A subnet's ACL is the second wall behind the security groups; allowing everything from anywhere removes it.",
        "Replace the all-traffic allow from 0.0.0.0/0 with the VPC CIDR and the ephemeral TCP ports return "
        "traffic needs, or add a deny for all traffic from 0.0.0.0/0 ahead of it.",
        nacl_no_all_traffic_from_internet,
    ),
    control(
        "net-flow-logs",
        "Every VPC records ALL traffic in flow logs",
        "high",
        ("164.312(b)", "164.308(a)(1)(ii)(D)"),
        ("vpcs", "flow_logs"),
        ("ec2:DescribeVpcs", "ec2:DescribeFlowLogs"),
        "Flow logs are the network audit trail: who talked to the PHI hosts, accepted or rejected.",
        "Create a flow log for the VPC with traffic type ALL to an encrypted log group.",
        flow_logs_all,
    ),
    control(
        "net-required-endpoints",
        "Each VPC has the VPC endpoints the private stack needs",
        "medium",
        ("164.312(e)(1)",),
        ("vpcs", "vpc_endpoints"),
        ("ec2:DescribeVpcs", "ec2:DescribeVpcEndpoints"),
        "Without endpoints, hosts cannot reach SSM, KMS or logging privately, and someone adds a NAT.",
        "Add an S3 gateway endpoint and interface endpoints for the listed services with private DNS.",
        required_endpoints,
    ),
)
