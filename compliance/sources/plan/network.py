"""EC2 networking as planned: VPCs, subnets, gateways, routes, security groups, NACLs, flow logs, endpoints.
What AWS adds to every VPC (its main route table, default security group and NACL) is modelled here."""

from __future__ import annotations

from collections import defaultdict

from compliance.facts import Facts, Item
from compliance.sources.plan._reader import PlanReader

ALL = {"protocol": "-1", "from_port": 0, "to_port": 65535}


def _sg_rules_inline(rules: list[Item], own_id: str) -> list[Item]:
    out: list[Item] = []
    for r in rules or []:
        base = {
            "protocol": str(r.get("protocol", "-1")),
            "from_port": r.get("fromPort", 0),
            "to_port": r.get("toPort", 0),
        }
        peers = (
            [("cidr", c) for c in r.get("cidrBlocks", [])]
            + [("ipv6", c) for c in r.get("ipv6CidrBlocks", [])]
            + [("security_group", g) for g in r.get("securityGroups", [])]
            + [("prefix_list", p) for p in r.get("prefixListIds", [])]
            + ([("security_group", own_id)] if r.get("self") else [])
        )
        out.extend({**base, k: v} for k, v in peers)
    return out


def _sg_rule_resource(r: Item) -> Item:
    rule: Item = {
        "protocol": str(r.get("ipProtocol", "-1")),
        "from_port": r.get("fromPort", 0),
        "to_port": r.get("toPort", 0),
    }
    for src, dst in (
        ("cidrIpv4", "cidr"),
        ("cidrIpv6", "ipv6"),
        ("referencedSecurityGroupId", "security_group"),
        ("prefixListId", "prefix_list"),
    ):
        if r.get(src):
            rule[dst] = r[src]
    return rule


def add(p: PlanReader, f: Facts) -> None:
    region = p.region
    vpcs = p.of("aws:ec2/vpc:Vpc")
    f.add(
        "vpcs",
        [
            {
                "id": v["_id"],
                "region": region,
                "cidr": v.get("cidrBlock"),
                "is_default": False,
                "tags": v.get("tags", {}),
            }
            for v in vpcs
        ],
    )
    subnets = p.of("aws:ec2/subnet:Subnet")
    subnet_vpc = {s["_id"]: s.get("vpcId") for s in subnets}
    f.add(
        "subnets",
        [
            {
                "id": s["_id"],
                "region": region,
                "vpc_id": s.get("vpcId"),
                "map_public_ip_on_launch": bool(s.get("mapPublicIpOnLaunch", False)),
            }
            for s in subnets
        ],
    )
    attachments = defaultdict(list)
    for a in p.of("aws:ec2/internetGatewayAttachment:InternetGatewayAttachment"):
        attachments[a.get("internetGatewayId")].append(a.get("vpcId"))
    f.add(
        "internet_gateways",
        [
            {"id": g["_id"], "region": region, "vpc_ids": [g["vpcId"]] if g.get("vpcId") else attachments[g["_id"]]}
            for g in p.of("aws:ec2/internetGateway:InternetGateway")
        ],
    )
    f.add(
        "nat_gateways",
        [
            {"id": g["_id"], "region": region, "vpc_id": subnet_vpc.get(g.get("subnetId")), "state": "available"}
            for g in p.of("aws:ec2/natGateway:NatGateway")
        ],
    )
    f.add(
        "egress_only_gateways",
        [
            {"id": g["_id"], "region": region, "vpc_ids": [g.get("vpcId")]}
            for g in p.of("aws:ec2/egressOnlyInternetGateway:EgressOnlyInternetGateway")
        ],
    )

    target_keys = (
        "gatewayId",
        "natGatewayId",
        "transitGatewayId",
        "egressOnlyGatewayId",
        "networkInterfaceId",
        "vpcPeeringConnectionId",
        "vpcEndpointId",
    )
    extra_routes = defaultdict(list)
    for r in p.of("aws:ec2/route:Route"):
        extra_routes[r.get("routeTableId")].append(r)

    def route(r: Item, v4: str, v6: str) -> Item:
        return {"destination": r.get(v4) or r.get(v6), "target": next((r[k] for k in target_keys if r.get(k)), None)}

    tables = []
    for v in vpcs:  # the main route table AWS creates with every VPC: its local route only
        tables.append(
            {
                "id": f"{v['_id']}-main",
                "region": region,
                "vpc_id": v["_id"],
                "routes": [{"destination": v.get("cidrBlock"), "target": "local"}],
            }
        )
    for t in p.of("aws:ec2/routeTable:RouteTable"):
        routes = [route(r, "cidrBlock", "ipv6CidrBlock") for r in t.get("routes", [])]
        routes += [route(r, "destinationCidrBlock", "destinationIpv6CidrBlock") for r in extra_routes[t["_id"]]]
        tables.append({"id": t["_id"], "region": region, "vpc_id": t.get("vpcId"), "routes": routes})
    f.add("route_tables", tables)

    ingress, egress = defaultdict(list), defaultdict(list)
    for r in p.of("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
        ingress[r.get("securityGroupId")].append(_sg_rule_resource(r))
    for r in p.of("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"):
        egress[r.get("securityGroupId")].append(_sg_rule_resource(r))
    for r in p.of("aws:ec2/securityGroupRule:SecurityGroupRule"):
        rule = _sg_rule_resource(
            {
                **r,
                "ipProtocol": r.get("protocol"),
                "cidrIpv4": (r.get("cidrBlocks") or [None])[0],
                "referencedSecurityGroupId": r.get("sourceSecurityGroupId"),
            }
        )
        (ingress if r.get("type") == "ingress" else egress)[r.get("securityGroupId")].append(rule)
    groups = []
    for g in p.of("aws:ec2/securityGroup:SecurityGroup"):
        groups.append(
            {
                "id": g["_id"],
                "region": region,
                "vpc_id": g.get("vpcId"),
                "name": g.get("name", g["_id"]),
                "is_default": False,
                "ingress": _sg_rules_inline(g.get("ingress", []), g["_id"]) + ingress[g["_id"]],
                "egress": _sg_rules_inline(g.get("egress", []), g["_id"]) + egress[g["_id"]],
            }
        )
    managed_default = {d.get("vpcId"): d for d in p.of("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")}
    for v in vpcs:
        sg_id = v.get("defaultSecurityGroupId", f"{v['_id']}-default-sg")
        d = managed_default.get(v["_id"])
        rules = (
            (_sg_rules_inline(d.get("ingress", []), sg_id), _sg_rules_inline(d.get("egress", []), sg_id))
            if d
            else ([{**ALL, "security_group": sg_id}], [{**ALL, "cidr": "0.0.0.0/0"}])
        )
        groups.append(
            {
                "id": sg_id,
                "region": region,
                "vpc_id": v["_id"],
                "name": "default",
                "is_default": True,
                "ingress": rules[0],
                "egress": rules[1],
            }
        )
    f.add("security_groups", groups)

    def entries(acl: Item) -> list[Item]:
        return [
            {
                "egress": egress_flag,
                "rule_no": e.get("ruleNo"),
                "protocol": str(e.get("protocol")),
                "action": e.get("action"),
                "cidr": e.get("cidrBlock") or e.get("ipv6CidrBlock"),
                "from_port": e.get("fromPort"),
                "to_port": e.get("toPort"),
            }
            for egress_flag, key in ((False, "ingress"), (True, "egress"))
            for e in acl.get(key, [])
        ]

    acl_rules = defaultdict(list)
    for r in p.of("aws:ec2/networkAclRule:NetworkAclRule"):
        acl_rules[r.get("networkAclId")].append(
            {
                "egress": bool(r.get("egress")),
                "rule_no": r.get("ruleNumber"),
                "protocol": str(r.get("protocol")),
                "action": r.get("ruleAction"),
                "cidr": r.get("cidrBlock"),
                "from_port": r.get("fromPort"),
                "to_port": r.get("toPort"),
            }
        )
    acls = [
        {
            "id": a["_id"],
            "region": region,
            "vpc_id": a.get("vpcId"),
            "is_default": False,
            "entries": entries(a) + acl_rules[a["_id"]],
        }
        for a in p.of("aws:ec2/networkAcl:NetworkAcl")
    ]
    managed_acl = {d.get("defaultNetworkAclId"): d for d in p.of("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")}
    for v in vpcs:
        acl_id = v.get("defaultNetworkAclId", f"{v['_id']}-default-acl")
        d = managed_acl.get(acl_id)
        default_entries = (
            entries(d)
            if d
            else [
                {
                    "egress": e,
                    "rule_no": 100,
                    "protocol": "-1",
                    "action": "allow",
                    "cidr": "0.0.0.0/0",
                    "from_port": 0,
                    "to_port": 65535,
                }
                for e in (False, True)
            ]
        )
        acls.append(
            {"id": acl_id, "region": region, "vpc_id": v["_id"], "is_default": True, "entries": default_entries}
        )
    f.add("network_acls", acls)

    f.add(
        "flow_logs",
        [
            {
                "id": fl["_id"],
                "region": region,
                "resource_id": fl.get("vpcId") or fl.get("subnetId") or fl.get("eniId"),
                "traffic_type": fl.get("trafficType"),
                "destination_type": fl.get("logDestinationType", "cloud-watch-logs"),
                "destination": fl.get("logDestination"),
            }
            for fl in p.of("aws:ec2/flowLog:FlowLog")
        ],
    )
    prefix = f"com.amazonaws.{region}."
    f.add(
        "vpc_endpoints",
        [
            {
                "id": e["_id"],
                "region": region,
                "vpc_id": e.get("vpcId"),
                "service": str(e.get("serviceName", "")).removeprefix(prefix),
                "type": e.get("vpcEndpointType", "Gateway"),
                "private_dns": e.get("privateDnsEnabled", False),
                "prefix_list_id": e.get("prefixListId"),
            }
            for e in p.of("aws:ec2/vpcEndpoint:VpcEndpoint")
        ],
    )
