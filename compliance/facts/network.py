"""Records of EC2 networking: VPCs, subnets, gateways, route tables, security groups, NACLs, flow logs, endpoints;
and where TLS ends in front of the hosts: load balancers with their listeners, and ACM certificates."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from compliance.facts._kind import Kind, Unreadable


class Vpc(TypedDict):
    id: str
    region: str
    cidr: str | None
    is_default: bool
    tags: dict[str, str]


class Subnet(TypedDict):
    id: str
    region: str
    vpc_id: str | None
    map_public_ip_on_launch: bool


class InternetGateway(TypedDict):
    id: str
    region: str
    vpc_ids: list[str]


class NatGateway(TypedDict):
    id: str
    region: str
    vpc_id: str | None
    state: str | None


class EgressOnlyGateway(TypedDict):
    id: str
    region: str
    vpc_ids: list[str]


class Route(TypedDict):
    destination: str | None
    target: str | None  # "local", a gateway, NAT, TGW, ENI, peering or endpoint id


class RouteTable(TypedDict):
    id: str
    region: str
    vpc_id: str | None
    routes: list[Route]


class Rule(TypedDict):
    """One security-group rule, with exactly one peer: cidr, ipv6, security_group or prefix_list."""

    protocol: str
    from_port: int
    to_port: int
    cidr: NotRequired[str]
    ipv6: NotRequired[str]
    security_group: NotRequired[str]
    prefix_list: NotRequired[str]


class SecurityGroup(TypedDict):
    id: str
    region: str
    vpc_id: str | None
    name: str | None
    is_default: bool
    ingress: list[Rule]
    egress: list[Rule]


class AclEntry(TypedDict):
    egress: bool
    rule_no: int | None
    protocol: str
    action: str | None
    cidr: str | None
    from_port: int | None
    to_port: int | None


class NetworkAcl(TypedDict):
    id: str
    region: str
    vpc_id: str | None
    is_default: bool
    entries: list[AclEntry]


class FlowLog(TypedDict):
    id: str
    region: str
    resource_id: str | None
    traffic_type: str | None
    destination_type: str | None
    destination: str | None


class VpcEndpoint(TypedDict):
    id: str
    region: str
    vpc_id: str | None
    service: str  # short: s3, ssm, ecr.api
    type: str | None
    private_dns: bool
    prefix_list_id: str | None  # gateway endpoints: the service's prefix list


class Listener(TypedDict):
    port: int
    protocol: str | None  # TLS, HTTPS, TCP, HTTP, UDP, TCP_UDP, GENEVE (gateway load balancers)
    ssl_policy: str | None


class LoadBalancer(TypedDict):
    arn: str
    name: str
    region: str
    type: str | None  # network, application, gateway
    deletion_protection: bool | Unreadable
    access_logs_bucket: str | Unreadable | None  # None: access logs off
    listeners: list[Listener] | Unreadable


class Certificate(TypedDict):
    arn: str
    region: str
    domain: str | None
    status: str | None  # ISSUED, EXPIRED, PENDING_VALIDATION, ...
    not_after: str | None  # ISO 8601; None before it is issued
    in_use_by: list[str]  # ARNs of what uses it (load balancers, ...)


VPCS = Kind("vpcs", Vpc)
SUBNETS = Kind("subnets", Subnet)
INTERNET_GATEWAYS = Kind("internet_gateways", InternetGateway)
NAT_GATEWAYS = Kind("nat_gateways", NatGateway)
EGRESS_ONLY_GATEWAYS = Kind("egress_only_gateways", EgressOnlyGateway)
ROUTE_TABLES = Kind("route_tables", RouteTable)
SECURITY_GROUPS = Kind("security_groups", SecurityGroup)
NETWORK_ACLS = Kind("network_acls", NetworkAcl)
FLOW_LOGS = Kind("flow_logs", FlowLog)
VPC_ENDPOINTS = Kind("vpc_endpoints", VpcEndpoint)
LOAD_BALANCERS = Kind("load_balancers", LoadBalancer)
CERTIFICATES = Kind("certificates", Certificate)
