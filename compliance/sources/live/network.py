"""EC2 networking facts: VPCs, subnets, gateways, routes, security groups, NACLs, flow logs, endpoints; load
balancers (attributes and listeners) and ACM certificates."""

from __future__ import annotations

from typing import Any

from compliance.facts import unreadable_marker
from compliance.facts.network import (
    CERTIFICATES,
    EGRESS_ONLY_GATEWAYS,
    FLOW_LOGS,
    INTERNET_GATEWAYS,
    LOAD_BALANCERS,
    NAT_GATEWAYS,
    NETWORK_ACLS,
    ROUTE_TABLES,
    SECURITY_GROUPS,
    SUBNETS,
    VPC_ENDPOINTS,
    VPCS,
    AclEntry,
    Certificate,
    EgressOnlyGateway,
    FlowLog,
    InternetGateway,
    Listener,
    LoadBalancer,
    NatGateway,
    NetworkAcl,
    Route,
    RouteTable,
    Rule,
    SecurityGroup,
    Subnet,
    Vpc,
    VpcEndpoint,
)
from compliance.sources.live._client import Scan, Unavailable
from compliance.sources.live._task import Task, value_or_marker


def _ec2(scan: Scan, region: str) -> Any:
    return scan.client("ec2", region)


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or []}


def vpcs(scan: Scan, region: str, account: str) -> list[Vpc]:
    return [
        {
            "id": v["VpcId"],
            "region": region,
            "cidr": v.get("CidrBlock"),
            "is_default": v.get("IsDefault", False),
            "tags": _tags(v.get("Tags")),
        }
        for v in scan.pages(_ec2(scan, region), "describe_vpcs", "Vpcs")
    ]


def subnets(scan: Scan, region: str, account: str) -> list[Subnet]:
    return [
        {
            "id": s["SubnetId"],
            "region": region,
            "vpc_id": s["VpcId"],
            "map_public_ip_on_launch": bool(s.get("MapPublicIpOnLaunch")),
        }
        for s in scan.pages(_ec2(scan, region), "describe_subnets", "Subnets")
    ]


def internet_gateways(scan: Scan, region: str, account: str) -> list[InternetGateway]:
    return [
        {"id": g["InternetGatewayId"], "region": region, "vpc_ids": [a["VpcId"] for a in g.get("Attachments", [])]}
        for g in scan.pages(_ec2(scan, region), "describe_internet_gateways", "InternetGateways")
    ]


def nat_gateways(scan: Scan, region: str, account: str) -> list[NatGateway]:
    return [
        {"id": g["NatGatewayId"], "region": region, "vpc_id": g.get("VpcId"), "state": g.get("State")}
        for g in scan.pages(_ec2(scan, region), "describe_nat_gateways", "NatGateways")
    ]


def egress_only_gateways(scan: Scan, region: str, account: str) -> list[EgressOnlyGateway]:
    return [
        {
            "id": g["EgressOnlyInternetGatewayId"],
            "region": region,
            "vpc_ids": [a["VpcId"] for a in g.get("Attachments", [])],
        }
        for g in scan.pages(_ec2(scan, region), "describe_egress_only_internet_gateways", "EgressOnlyInternetGateways")
    ]


_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "EgressOnlyInternetGatewayId",
    "NetworkInterfaceId",
    "VpcPeeringConnectionId",
    "InstanceId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
)


def route_tables(scan: Scan, region: str, account: str) -> list[RouteTable]:
    out: list[RouteTable] = []
    for t in scan.pages(_ec2(scan, region), "describe_route_tables", "RouteTables"):
        routes: list[Route] = [
            {
                "destination": r.get("DestinationCidrBlock")
                or r.get("DestinationIpv6CidrBlock")
                or r.get("DestinationPrefixListId"),
                "target": next((r[k] for k in _TARGETS if r.get(k)), None),
            }
            for r in t.get("Routes", [])
        ]
        out.append({"id": t["RouteTableId"], "region": region, "vpc_id": t.get("VpcId"), "routes": routes})
    return out


def _permissions(perms: list[dict[str, Any]]) -> list[Rule]:
    rules: list[Rule] = []
    for p in perms:
        base = Rule(
            protocol=str(p.get("IpProtocol", "-1")),
            from_port=p.get("FromPort", 0),
            to_port=p.get("ToPort", 65535),
        )
        rules += [Rule(**base, cidr=r["CidrIp"]) for r in p.get("IpRanges", [])]
        rules += [Rule(**base, ipv6=r["CidrIpv6"]) for r in p.get("Ipv6Ranges", [])]
        rules += [Rule(**base, security_group=r["GroupId"]) for r in p.get("UserIdGroupPairs", [])]
        rules += [Rule(**base, prefix_list=r["PrefixListId"]) for r in p.get("PrefixListIds", [])]
    return rules


def security_groups(scan: Scan, region: str, account: str) -> list[SecurityGroup]:
    return [
        {
            "id": g["GroupId"],
            "region": region,
            "vpc_id": g.get("VpcId"),
            "name": g.get("GroupName"),
            "is_default": g.get("GroupName") == "default",
            "ingress": _permissions(g.get("IpPermissions", [])),
            "egress": _permissions(g.get("IpPermissionsEgress", [])),
        }
        for g in scan.pages(_ec2(scan, region), "describe_security_groups", "SecurityGroups")
    ]


def network_acls(scan: Scan, region: str, account: str) -> list[NetworkAcl]:
    out: list[NetworkAcl] = []
    for a in scan.pages(_ec2(scan, region), "describe_network_acls", "NetworkAcls"):
        entries: list[AclEntry] = [
            {
                "egress": bool(e.get("Egress")),
                "rule_no": e.get("RuleNumber"),
                "protocol": str(e.get("Protocol")),
                "action": e.get("RuleAction"),
                "cidr": e.get("CidrBlock") or e.get("Ipv6CidrBlock"),
                "from_port": (e.get("PortRange") or {}).get("From"),
                "to_port": (e.get("PortRange") or {}).get("To"),
            }
            for e in a.get("Entries", [])
        ]
        out.append(
            {
                "id": a["NetworkAclId"],
                "region": region,
                "vpc_id": a.get("VpcId"),
                "is_default": bool(a.get("IsDefault")),
                "entries": entries,
            }
        )
    return out


def flow_logs(scan: Scan, region: str, account: str) -> list[FlowLog]:
    return [
        {
            "id": f["FlowLogId"],
            "region": region,
            "resource_id": f.get("ResourceId"),
            "traffic_type": f.get("TrafficType"),
            "destination_type": f.get("LogDestinationType"),
            "destination": f.get("LogDestination") or f.get("LogGroupName"),
        }
        for f in scan.pages(_ec2(scan, region), "describe_flow_logs", "FlowLogs")
    ]


GONE = frozenset({"deleted", "deleting", "rejected", "failed", "expired"})


def vpc_endpoints(scan: Scan, region: str, account: str) -> list[VpcEndpoint]:
    prefix = f"com.amazonaws.{region}."
    out: list[VpcEndpoint] = []
    lists = {
        p.get("PrefixListName"): p.get("PrefixListId")
        for p in scan.pages(_ec2(scan, region), "describe_prefix_lists", "PrefixLists")
    }
    for e in scan.pages(_ec2(scan, region), "describe_vpc_endpoints", "VpcEndpoints"):
        if str(e.get("State", "available")).lower() in GONE:  # deleted endpoints stay listed for a while
            continue
        service = str(e.get("ServiceName", ""))
        out.append(
            {
                "id": e["VpcEndpointId"],
                "region": region,
                "vpc_id": e.get("VpcId"),
                "service": service.removeprefix(prefix),
                "type": e.get("VpcEndpointType"),
                "private_dns": bool(e.get("PrivateDnsEnabled")),
                "prefix_list_id": lists.get(service) if e.get("VpcEndpointType") == "Gateway" else None,
            }
        )
    return out


def load_balancers(scan: Scan, region: str, account: str) -> list[LoadBalancer]:
    elb = scan.client("elbv2", region)
    out: list[LoadBalancer] = []
    for lb in scan.pages(elb, "describe_load_balancers", "LoadBalancers"):
        arn = lb["LoadBalancerArn"]
        attributes: Any = value_or_marker(
            scan, elb, "describe_load_balancer_attributes",
            lambda r: {a["Key"]: a.get("Value") for a in r.get("Attributes") or []}, LoadBalancerArn=arn,
        )  # fmt: skip
        protection: Any = attributes
        bucket: Any = attributes
        if "unreadable" not in attributes:
            protection = attributes.get("deletion_protection.enabled") == "true"
            logged = attributes.get("access_logs.s3.enabled") == "true"
            bucket = (attributes.get("access_logs.s3.bucket") or None) if logged else None
        try:
            listeners: Any = [
                Listener(port=int(x.get("Port") or 0), protocol=x.get("Protocol"), ssl_policy=x.get("SslPolicy"))
                for x in scan.pages(elb, "describe_listeners", "Listeners", LoadBalancerArn=arn)
            ]
        except Unavailable as exc:
            listeners = unreadable_marker(exc.api, exc.error)
        out.append(
            {
                "arn": arn,
                "name": lb.get("LoadBalancerName", arn),
                "region": region,
                "type": lb.get("Type"),
                "deletion_protection": protection,
                "access_logs_bucket": bucket,
                "listeners": listeners,
            }
        )
    return out


# ListCertificates returns RSA-2048 certificates only unless asked for every key type.
_KEY_TYPES = ["RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1"]


def certificates(scan: Scan, region: str, account: str) -> list[Certificate]:
    acm = scan.client("acm", region)
    out: list[Certificate] = []
    for summary in scan.pages(acm, "list_certificates", "CertificateSummaryList", Includes={"keyTypes": _KEY_TYPES}):
        c = scan.call(acm, "describe_certificate", CertificateArn=summary["CertificateArn"])["Certificate"]
        not_after = c.get("NotAfter")
        out.append(
            {
                "arn": c["CertificateArn"],
                "region": region,
                "domain": c.get("DomainName"),
                "status": c.get("Status"),
                "not_after": not_after.isoformat() if not_after is not None else None,
                "in_use_by": list(c.get("InUseBy") or []),
            }
        )
    return out


TASKS: tuple[Task[Any], ...] = (
    Task(VPCS, "regional", vpcs),
    Task(SUBNETS, "regional", subnets),
    Task(INTERNET_GATEWAYS, "regional", internet_gateways),
    Task(NAT_GATEWAYS, "regional", nat_gateways),
    Task(EGRESS_ONLY_GATEWAYS, "regional", egress_only_gateways),
    Task(ROUTE_TABLES, "regional", route_tables),
    Task(SECURITY_GROUPS, "regional", security_groups),
    Task(NETWORK_ACLS, "regional", network_acls),
    Task(FLOW_LOGS, "regional", flow_logs),
    Task(VPC_ENDPOINTS, "regional", vpc_endpoints),
    Task(LOAD_BALANCERS, "regional", load_balancers),
    Task(CERTIFICATES, "regional", certificates),
)
