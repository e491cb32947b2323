"""Network isolation: no path between the PHI hosts and the internet; AWS reached through endpoints only."""

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
    is_internet,
    regional_absence,
    within,
)
from compliance.facts import Facts
from compliance.facts.network import (
    FLOW_LOGS,
    NAT_GATEWAYS,
    NETWORK_ACLS,
    ROUTE_TABLES,
    SECURITY_GROUPS,
    SUBNETS,
    VPC_ENDPOINTS,
    VPCS,
)
from compliance.model import Control, Finding, Status

TRANSMISSION = ("164.312(e)(1)", "164.308(a)(1)(ii)(B)")
ACCESS = ("164.312(a)(1)", "164.312(e)(1)")
ADMIN_PORTS = (22, 3389)


def _gateways(facts: Facts, kind: str, rtype: str, what: str, arn_kind: str) -> list[Finding]:
    items = facts.get(kind)
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
    return _gateways(facts, "internet_gateways", "AWS::EC2::InternetGateway", "internet gateway", "internet-gateway")


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
        "egress_only_gateways",
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


def default_sg_closed(facts: Facts) -> list[Finding]:
    def judge(sg: Record) -> tuple[bool, str, dict[str, Any]]:
        n_in, n_out = len(sg["ingress"]), len(sg["egress"])
        if n_in or n_out:
            return (
                False,
                (
                    f"Default security group {sg['id']} of VPC {sg['vpc_id']} has {n_in} inbound and {n_out} "
                    "outbound rule(s); anything placed in it by mistake is reachable."
                ),
                {"ingress": sg["ingress"], "egress": sg["egress"]},
            )
        return True, f"Default security group {sg['id']} of VPC {sg['vpc_id']} has no rules.", {}

    defaults = [sg for sg in facts.get(SECURITY_GROUPS) if sg.get("is_default")]
    return each(
        defaults,
        ("ingress", "egress"),
        lambda g: ec2_arn(facts, g, "security-group"),
        "AWS::EC2::SecurityGroup",
        lambda g: f"security group {g['id']}",
        judge,
    )


def _rule_text(rule: Record) -> str:
    peer = rule.get("cidr") or rule.get("ipv6") or rule.get("security_group") or rule.get("prefix_list")
    ports = (
        "all ports"
        if rule.get("protocol") in ("-1", "all")
        else f"{rule.get('protocol')} {rule.get('from_port')}-{rule.get('to_port')}"
    )
    return f"{ports} {peer}"


def sg_no_internet_ingress(facts: Facts) -> list[Finding]:
    def judge(sg: Record) -> tuple[bool, str, dict[str, Any]]:
        open_rules = [r for r in sg["ingress"] if is_internet(r.get("cidr")) or is_internet(r.get("ipv6"))]
        if open_rules:
            return (
                False,
                (
                    f"Security group {sg['id']} ({sg.get('name')}) admits the internet: "
                    f"{'; '.join(_rule_text(r) for r in open_rules)}."
                ),
                {"rules": open_rules},
            )
        return True, f"Security group {sg['id']} ({sg.get('name')}) admits nothing from 0.0.0.0/0 or ::/0.", {}

    return each(
        facts.get(SECURITY_GROUPS),
        ("ingress",),
        lambda g: ec2_arn(facts, g, "security-group"),
        "AWS::EC2::SecurityGroup",
        lambda g: f"security group {g['id']}",
        judge,
    )


def sg_egress_within_vpc(facts: Facts) -> list[Finding]:
    vpc_cidrs = {v["id"]: v["cidr"] for v in facts.get(VPCS) if v["cidr"]}
    endpoint_lists = {e.get("prefix_list_id") for e in facts.get(VPC_ENDPOINTS) if e.get("prefix_list_id")}

    def allowed(rule: Record, vpc_id: str) -> bool:
        if rule.get("security_group"):
            return True
        if rule.get("prefix_list"):
            return rule["prefix_list"] in endpoint_lists
        if rule.get("cidr"):
            return vpc_id in vpc_cidrs and within(rule["cidr"], vpc_cidrs[vpc_id])
        return False  # IPv6 egress: the stack's VPCs have no IPv6

    def judge(sg: Record) -> tuple[bool, str, dict[str, Any]]:
        wide = [r for r in sg["egress"] if not allowed(r, sg["vpc_id"])]
        if wide:
            return (
                False,
                (
                    f"Security group {sg['id']} ({sg.get('name')}) allows egress beyond its VPC and the "
                    f"endpoint prefix lists: {'; '.join(_rule_text(r) for r in wide)}."
                ),
                {"rules": wide},
            )
        return (
            True,
            f"Security group {sg['id']} ({sg.get('name')}) sends only to its VPC, peers or endpoint prefix lists.",
            {},
        )

    return each(
        facts.get(SECURITY_GROUPS),
        ("egress",),
        lambda g: ec2_arn(facts, g, "security-group"),
        "AWS::EC2::SecurityGroup",
        lambda g: f"security group {g['id']}",
        judge,
    )


def nacl_no_admin_ports_from_internet(facts: Facts) -> list[Finding]:
    def covers_admin(entry: Record) -> list[int]:
        if entry.get("protocol") in ("-1", "all"):
            return list(ADMIN_PORTS)
        if str(entry.get("protocol")) not in ("6", "tcp"):
            return []
        lo, hi = int(entry.get("from_port") or 0), int(entry.get("to_port") or 65535)
        return [p for p in ADMIN_PORTS if lo <= p <= hi]

    def judge(acl: Record) -> tuple[bool, str, dict[str, Any]]:
        entries = sorted((e for e in acl["entries"] if not e.get("egress")), key=lambda e: e.get("rule_no", 0))
        exposed: set[int] = set()
        decided: set[int] = set()
        for e in entries:  # NACLs are evaluated in rule order; the first matching rule decides.
            ports = [p for p in covers_admin(e) if p not in decided]
            if is_internet(e.get("cidr")) and ports:
                decided.update(ports)
                if e.get("action") == "allow":
                    exposed.update(ports)
        if exposed:
            return (
                False,
                (
                    f"Network ACL {acl['id']} (VPC {acl['vpc_id']}) allows port(s) "
                    f"{', '.join(map(str, sorted(exposed)))} in from the internet."
                ),
                {"entries": acl["entries"]},
            )
        return True, f"Network ACL {acl['id']} (VPC {acl['vpc_id']}) admits neither SSH nor RDP from the internet.", {}

    return each(
        facts.get(NETWORK_ACLS),
        ("entries",),
        lambda a: ec2_arn(facts, a, "network-acl"),
        "AWS::EC2::NetworkAcl",
        lambda a: f"network ACL {a['id']}",
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
