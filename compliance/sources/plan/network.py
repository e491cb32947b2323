"""EC2 networking as planned: VPCs, subnets, gateways, routes, security groups, NACLs, flow logs, endpoints.
What AWS adds to every VPC (its main route table, default security group and NACL) is modelled here."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from compliance.facts import Facts, Gap, Item
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
from compliance.sources.plan._reader import PlanReader, arn_of, whole

_ROUTE_TARGETS = ("gatewayId", "natGatewayId", "transitGatewayId", "egressOnlyGatewayId", "networkInterfaceId",
                  "vpcPeeringConnectionId", "vpcEndpointId")  # fmt: skip
_RULE_PEERS = (("cidrIpv4", "cidr"), ("cidrIpv6", "ipv6"), ("referencedSecurityGroupId", "security_group"),
               ("prefixListId", "prefix_list"))  # fmt: skip


def add(p: PlanReader, f: Facts) -> None:
    _vpcs_and_gateways(p, f)
    f.add(ROUTE_TABLES, _route_tables(p))
    f.add(SECURITY_GROUPS, _security_groups(p))
    f.add(NETWORK_ACLS, _network_acls(p))
    f.add(FLOW_LOGS, _flow_logs(p))
    f.add(VPC_ENDPOINTS, _endpoints(p))
    f.add(LOAD_BALANCERS, _load_balancers(p))
    f.missing(
        CERTIFICATES,
        Gap(
            "the gateway's certificate is the client's, issued outside the stack; the live audit reads it",
            "NOT_APPLICABLE",
        ),
    )


def _vpcs_and_gateways(p: PlanReader, f: Facts) -> None:
    region = p.region
    vpcs = [
        Vpc(id=v["_id"], region=region, cidr=v.get("cidrBlock"), is_default=False, tags=v.get("tags", {}))
        for v in p.of("aws:ec2/vpc:Vpc")
    ]
    subnets = [
        Subnet(
            id=s["_id"],
            region=region,
            vpc_id=s.get("vpcId"),
            map_public_ip_on_launch=bool(s.get("mapPublicIpOnLaunch", False)),
        )
        for s in p.of("aws:ec2/subnet:Subnet")
    ]
    subnet_vpc = {s["id"]: s["vpc_id"] for s in subnets}
    attached: defaultdict[str, list[str]] = defaultdict(list)
    for a in p.of("aws:ec2/internetGatewayAttachment:InternetGatewayAttachment"):
        attached[a["internetGatewayId"]].append(a["vpcId"])
    igws = [
        InternetGateway(id=g["_id"], region=region, vpc_ids=[g["vpcId"]] if g.get("vpcId") else attached[g["_id"]])
        for g in p.of("aws:ec2/internetGateway:InternetGateway")
    ]
    nats = [
        NatGateway(id=g["_id"], region=region, vpc_id=subnet_vpc.get(g.get("subnetId", "")), state="available")
        for g in p.of("aws:ec2/natGateway:NatGateway")
    ]
    eigws = [
        EgressOnlyGateway(id=g["_id"], region=region, vpc_ids=[g["vpcId"]] if g.get("vpcId") else [])
        for g in p.of("aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway")
    ]
    f.add(VPCS, vpcs)
    f.add(SUBNETS, subnets)
    f.add(INTERNET_GATEWAYS, igws)
    f.add(NAT_GATEWAYS, nats)
    f.add(EGRESS_ONLY_GATEWAYS, eigws)


def _route(r: Item, v4: str, v6: str) -> Route:
    return Route(destination=r.get(v4) or r.get(v6), target=next((r[k] for k in _ROUTE_TARGETS if r.get(k)), None))


def _route_tables(p: PlanReader) -> list[RouteTable]:
    extra: defaultdict[str, list[Item]] = defaultdict(list)
    for r in p.of("aws:ec2/route:Route"):
        extra[r.get("routeTableId", "")].append(r)
    # The main route table AWS creates with every VPC: its local route only.
    tables = [
        RouteTable(
            id=f"{v['_id']}-main",
            region=p.region,
            vpc_id=v["_id"],
            routes=[Route(destination=v.get("cidrBlock"), target="local")],
        )
        for v in p.of("aws:ec2/vpc:Vpc")
    ]
    for t in p.of("aws:ec2/routeTable:RouteTable"):
        routes = [_route(r, "cidrBlock", "ipv6CidrBlock") for r in t.get("routes", [])]
        routes += [_route(r, "destinationCidrBlock", "destinationIpv6CidrBlock") for r in extra[t["_id"]]]
        tables.append(RouteTable(id=t["_id"], region=p.region, vpc_id=t.get("vpcId"), routes=routes))
    return tables


def _rule(protocol: Any, from_port: Any, to_port: Any) -> Rule:
    return Rule(protocol=str(protocol), from_port=whole(from_port) or 0, to_port=whole(to_port) or 0)


def _rules_inline(rules: list[Item], own_id: str) -> list[Rule]:
    """A security group's inline rules, one Rule per peer (as the live API lists them)."""
    out: list[Rule] = []
    for r in rules or []:
        base = _rule(r.get("protocol", "-1"), r.get("fromPort", 0), r.get("toPort", 0))
        out += [Rule(**base, cidr=c) for c in r.get("cidrBlocks", [])]
        out += [Rule(**base, ipv6=c) for c in r.get("ipv6CidrBlocks", [])]
        out += [Rule(**base, security_group=g) for g in r.get("securityGroups", [])]
        out += [Rule(**base, prefix_list=pl) for pl in r.get("prefixListIds", [])]
        out += [Rule(**base, security_group=own_id)] if r.get("self") else []
    return out


def _rule_resource(r: Item) -> Rule:
    """A standalone rule resource (vpc.SecurityGroupIngressRule / EgressRule)."""
    rule = _rule(r.get("ipProtocol", "-1"), r.get("fromPort", 0), r.get("toPort", 0))
    for src, dst in _RULE_PEERS:
        if r.get(src):
            rule[dst] = r[src]  # type: ignore[literal-required]
    return rule


def _standalone_rules(p: PlanReader) -> tuple[defaultdict[str, list[Rule]], defaultdict[str, list[Rule]]]:
    ingress: defaultdict[str, list[Rule]] = defaultdict(list)
    egress: defaultdict[str, list[Rule]] = defaultdict(list)
    for r in p.of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        ingress[r.get("securityGroupId", "")].append(_rule_resource(r))
    for r in p.of("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
        egress[r.get("securityGroupId", "")].append(_rule_resource(r))
    for r in p.of("aws:ec2/securityGroupRule:SecurityGroupRule"):
        as_resource = {
            **r,
            "ipProtocol": r.get("protocol"),
            "cidrIpv4": (r.get("cidrBlocks") or [None])[0],
            "referencedSecurityGroupId": r.get("sourceSecurityGroupId"),
        }
        (ingress if r.get("type") == "ingress" else egress)[r.get("securityGroupId", "")].append(
            _rule_resource(as_resource)
        )
    return ingress, egress


def _security_groups(p: PlanReader) -> list[SecurityGroup]:
    ingress, egress = _standalone_rules(p)
    groups = [
        SecurityGroup(
            id=g["_id"],
            region=p.region,
            vpc_id=g.get("vpcId"),
            name=g.get("name", g["_id"]),
            is_default=False,
            ingress=_rules_inline(g.get("ingress", []), g["_id"]) + ingress[g["_id"]],
            egress=_rules_inline(g.get("egress", []), g["_id"]) + egress[g["_id"]],
        )
        for g in p.of("aws:ec2/securityGroup:SecurityGroup")
    ]
    # Every VPC's default group: AWS's (self ingress, all egress) unless the plan manages it.
    managed = {d.get("vpcId"): d for d in p.of("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")}
    for v in p.of("aws:ec2/vpc:Vpc"):
        sg_id = v.get("defaultSecurityGroupId", f"{v['_id']}-default-sg")
        d = managed.get(v["_id"])
        everything = _rule("-1", 0, 65535)
        rules_in, rules_out = (
            (_rules_inline(d.get("ingress", []), sg_id), _rules_inline(d.get("egress", []), sg_id))
            if d
            else ([Rule(**everything, security_group=sg_id)], [Rule(**everything, cidr="0.0.0.0/0")])
        )
        groups.append(
            SecurityGroup(
                id=sg_id, region=p.region, vpc_id=v["_id"], name="default", is_default=True,
                ingress=rules_in, egress=rules_out,
            )
        )  # fmt: skip
    return groups


def _acl_entry(egress: bool, rule_no: Any, protocol: Any, action: Any, cidr: Any, ports: tuple[Any, Any]) -> AclEntry:
    return AclEntry(
        egress=egress, rule_no=whole(rule_no), protocol=str(protocol), action=action, cidr=cidr,
        from_port=whole(ports[0]), to_port=whole(ports[1]),
    )  # fmt: skip


def _inline_entries(acl: Item) -> list[AclEntry]:
    return [
        _acl_entry(
            egress,
            e.get("ruleNo"),
            e.get("protocol"),
            e.get("action"),
            e.get("cidrBlock") or e.get("ipv6CidrBlock"),
            (e.get("fromPort"), e.get("toPort")),
        )  # fmt: skip
        for egress, key in ((False, "ingress"), (True, "egress"))
        for e in acl.get(key, [])
    ]


def _network_acls(p: PlanReader) -> list[NetworkAcl]:
    rules: defaultdict[str, list[AclEntry]] = defaultdict(list)
    for r in p.of("aws:ec2/networkAclRule:NetworkAclRule"):
        rules[r.get("networkAclId", "")].append(
            _acl_entry(
                bool(r.get("egress")),
                r.get("ruleNumber"),
                r.get("protocol"),
                r.get("ruleAction"),
                r.get("cidrBlock"),
                (r.get("fromPort"), r.get("toPort")),
            )  # fmt: skip
        )
    acls = [
        NetworkAcl(
            id=a["_id"],
            region=p.region,
            vpc_id=a.get("vpcId"),
            is_default=False,
            entries=_inline_entries(a) + rules[a["_id"]],
        )
        for a in p.of("aws:ec2/networkAcl:NetworkAcl")
    ]
    # Every VPC's default NACL: AWS's (allow all, both ways) unless the plan manages it.
    managed = {d.get("defaultNetworkAclId"): d for d in p.of("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")}
    for v in p.of("aws:ec2/vpc:Vpc"):
        acl_id = v.get("defaultNetworkAclId", f"{v['_id']}-default-acl")
        d = managed.get(acl_id)
        entries = (
            _inline_entries(d)
            if d
            else [_acl_entry(egress, 100, "-1", "allow", "0.0.0.0/0", (0, 65535)) for egress in (False, True)]
        )
        acls.append(NetworkAcl(id=acl_id, region=p.region, vpc_id=v["_id"], is_default=True, entries=entries))
    return acls


def _flow_logs(p: PlanReader) -> list[FlowLog]:
    return [
        FlowLog(
            id=fl["_id"],
            region=p.region,
            resource_id=fl.get("vpcId") or fl.get("subnetId") or fl.get("eniId"),
            traffic_type=fl.get("trafficType"),
            destination_type=fl.get("logDestinationType", "cloud-watch-logs"),
            destination=fl.get("logDestination"),
        )
        for fl in p.of("aws:ec2/flowLog:FlowLog")
    ]


def _endpoints(p: PlanReader) -> list[VpcEndpoint]:
    prefix = f"com.amazonaws.{p.region}."
    return [
        VpcEndpoint(
            id=e["_id"],
            region=p.region,
            vpc_id=e.get("vpcId"),
            service=str(e.get("serviceName", "")).removeprefix(prefix),
            type=e.get("vpcEndpointType", "Gateway"),
            private_dns=bool(e.get("privateDnsEnabled", False)),
            prefix_list_id=e.get("prefixListId"),
        )
        for e in p.of("aws:ec2/vpcEndpoint:VpcEndpoint")
    ]


def _load_balancers(p: PlanReader) -> list[LoadBalancer]:
    balancers = p.of("aws:lb/loadBalancer:LoadBalancer")
    listeners = p.of("aws:lb/listener:Listener")
    out: list[LoadBalancer] = []
    for lb in balancers:
        arn = arn_of(lb)
        # A listener names its balancer's ARN; where the plan left it unknown there is only one balancer to own it.
        own = [x for x in listeners if x.get("loadBalancerArn") == arn or len(balancers) == 1]
        logs = lb.get("accessLogs") or {}
        out.append(
            LoadBalancer(
                arn=arn,
                name=str(lb.get("name") or lb["_id"]),
                region=p.region,
                type=lb.get("loadBalancerType", "application"),
                deletion_protection=bool(lb.get("enableDeletionProtection")),
                access_logs_bucket=(logs.get("bucket") or None) if logs.get("enabled") else None,
                listeners=[
                    Listener(port=whole(x.get("port")) or 0, protocol=x.get("protocol"), ssl_policy=x.get("sslPolicy"))
                    for x in own
                ],
            )
        )
    return out
