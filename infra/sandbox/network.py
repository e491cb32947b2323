"""Creators for the private network, its endpoints and security-group rules."""

from __future__ import annotations

from typing import Any

from infra.sandbox.engine import Created, Creator, EmulatorGap, Inputs, Sandbox, tag_specifications


def vpc(sb: Sandbox, name: str, i: Inputs) -> Created:
    ec2 = sb.client("ec2")
    v = ec2.create_vpc(CidrBlock=i["cidrBlock"], TagSpecifications=tag_specifications(i, "vpc"))["Vpc"]
    vid = v["VpcId"]
    for attr in ("EnableDnsSupport", "EnableDnsHostnames"):
        key = attr[0].lower() + attr[1:]
        if i.get(key) is not None:
            ec2.modify_vpc_attribute(VpcId=vid, **{attr: {"Value": bool(i[key])}})
    acl = ec2.describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vid]}, {"Name": "default", "Values": ["true"]}]
    )
    sg = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vid]}, {"Name": "group-name", "Values": ["default"]}]
    )
    return vid, {
        "arn": f"arn:aws:ec2:{sb.cfg.region}:{sb.account}:vpc/{vid}",
        "defaultNetworkAclId": acl["NetworkAcls"][0]["NetworkAclId"],
        "defaultSecurityGroupId": sg["SecurityGroups"][0]["GroupId"],
    }


def subnet(sb: Sandbox, name: str, i: Inputs) -> Created:
    ec2 = sb.client("ec2")
    s = ec2.create_subnet(
        VpcId=i["vpcId"],
        CidrBlock=i["cidrBlock"],
        AvailabilityZone=i["availabilityZone"],
        TagSpecifications=tag_specifications(i, "subnet"),
    )["Subnet"]
    # moto turns this on for new subnets; set what the program declared either way.
    ec2.modify_subnet_attribute(
        SubnetId=s["SubnetId"], MapPublicIpOnLaunch={"Value": bool(i.get("mapPublicIpOnLaunch"))}
    )
    return s["SubnetId"], {"arn": s.get("SubnetArn", "")}


def route_table(sb: Sandbox, name: str, i: Inputs) -> Created:
    ec2 = sb.client("ec2")
    rt = ec2.create_route_table(VpcId=i["vpcId"], TagSpecifications=tag_specifications(i, "route-table"))["RouteTable"][
        "RouteTableId"
    ]
    for r in i.get("routes") or []:
        target = {k[0].upper() + k[1:]: v for k, v in r.items() if k.endswith("Id") and v}
        ec2.create_route(RouteTableId=rt, DestinationCidrBlock=r["cidrBlock"], **target)
    return rt, {}


def route_table_association(sb: Sandbox, name: str, i: Inputs) -> Created:
    assoc = sb.client("ec2").associate_route_table(RouteTableId=i["routeTableId"], SubnetId=i["subnetId"])
    return assoc["AssociationId"], {}


def route(sb: Sandbox, name: str, i: Inputs) -> Created:
    target = {
        k[0].upper() + k[1:]: v for k, v in i.items() if k in ("gatewayId", "natGatewayId", "transitGatewayId") and v
    }
    sb.client("ec2").create_route(
        RouteTableId=i["routeTableId"], DestinationCidrBlock=i["destinationCidrBlock"], **target
    )
    return f"r-{i['routeTableId']}-{i['destinationCidrBlock']}", {}


def _permissions(rules: list[Inputs]) -> list[dict[str, Any]]:
    return [
        {
            "IpProtocol": str(r["protocol"]),
            "FromPort": int(r.get("fromPort", 0)),
            "ToPort": int(r.get("toPort", 0)),
            "IpRanges": [{"CidrIp": c} for c in r.get("cidrBlocks", [])],
        }
        for r in rules
    ]


def _strip_all(ec2: Any, group_id: str) -> None:
    g = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    if g["IpPermissions"]:
        ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=g["IpPermissions"])
    if g["IpPermissionsEgress"]:
        ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=g["IpPermissionsEgress"])


def security_group(sb: Sandbox, name: str, i: Inputs) -> Created:
    ec2 = sb.client("ec2")
    gid = ec2.create_security_group(
        GroupName=i.get("name") or name,
        Description=i.get("description") or name,
        VpcId=i["vpcId"],
        TagSpecifications=tag_specifications(i, "security-group"),
    )["GroupId"]
    _strip_all(ec2, gid)  # like Terraform, a new group starts with no rules, not AWS's allow-all egress
    if i.get("ingress"):
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=_permissions(i["ingress"]))
    if i.get("egress"):
        ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=_permissions(i["egress"]))
    return gid, {"arn": f"arn:aws:ec2:{sb.cfg.region}:{sb.account}:security-group/{gid}"}


def default_security_group(sb: Sandbox, name: str, i: Inputs) -> Created:
    ec2 = sb.client("ec2")
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [i["vpcId"]]}, {"Name": "group-name", "Values": ["default"]}]
    )
    gid = groups["SecurityGroups"][0]["GroupId"]
    _strip_all(ec2, gid)
    if i.get("ingress"):
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=_permissions(i["ingress"]))
    if i.get("egress"):
        ec2.authorize_security_group_egress(GroupId=gid, IpPermissions=_permissions(i["egress"]))
    return gid, {}


def _sg_rule(sb: Sandbox, i: Inputs, egress: bool) -> Created:
    ec2 = sb.client("ec2")
    perm: dict[str, Any] = {"IpProtocol": i["ipProtocol"], "FromPort": int(i["fromPort"]), "ToPort": int(i["toPort"])}
    if i.get("cidrIpv4"):
        perm["IpRanges"] = [{"CidrIp": i["cidrIpv4"], "Description": i.get("description", "")}]
    if i.get("referencedSecurityGroupId"):
        perm["UserIdGroupPairs"] = [{"GroupId": i["referencedSecurityGroupId"]}]
    if i.get("prefixListId"):
        perm["PrefixListIds"] = [{"PrefixListId": i["prefixListId"]}]
    call = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    rules = call(GroupId=i["securityGroupId"], IpPermissions=[perm]).get("SecurityGroupRules") or [{}]
    return rules[0].get("SecurityGroupRuleId", f"sgr-{i['securityGroupId']}"), {}


def ingress_rule(sb: Sandbox, name: str, i: Inputs) -> Created:
    return _sg_rule(sb, i, egress=False)


def egress_rule(sb: Sandbox, name: str, i: Inputs) -> Created:
    return _sg_rule(sb, i, egress=True)


def _replace_entries(ec2: Any, acl_id: str, i: Inputs) -> None:
    current = ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]["Entries"]
    for e in current:
        if e["RuleNumber"] < 32767:
            ec2.delete_network_acl_entry(NetworkAclId=acl_id, RuleNumber=e["RuleNumber"], Egress=e["Egress"])
    for egress, key in ((False, "ingress"), (True, "egress")):
        for e in i.get(key) or []:
            ec2.create_network_acl_entry(
                NetworkAclId=acl_id,
                RuleNumber=int(e["ruleNo"]),
                Protocol=str(e["protocol"]),
                RuleAction=e["action"],
                Egress=egress,
                CidrBlock=e["cidrBlock"],
                PortRange={"From": int(e.get("fromPort", 0)), "To": int(e.get("toPort", 0))},
            )


def network_acl(sb: Sandbox, name: str, i: Inputs) -> Created:
    ec2 = sb.client("ec2")
    acl_id = ec2.create_network_acl(VpcId=i["vpcId"], TagSpecifications=tag_specifications(i, "network-acl"))[
        "NetworkAcl"
    ]["NetworkAclId"]
    _replace_entries(ec2, acl_id, i)
    for subnet_id in i.get("subnetIds") or []:
        assoc = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])
        for a in assoc["NetworkAcls"][0]["Associations"] if assoc["NetworkAcls"] else []:
            if a["SubnetId"] == subnet_id:
                ec2.replace_network_acl_association(AssociationId=a["NetworkAclAssociationId"], NetworkAclId=acl_id)
    return acl_id, {}


def default_network_acl(sb: Sandbox, name: str, i: Inputs) -> Created:
    _replace_entries(sb.client("ec2"), i["defaultNetworkAclId"], i)
    return i["defaultNetworkAclId"], {}


def flow_log(sb: Sandbox, name: str, i: Inputs) -> Created:
    group = str(i["logDestination"]).split(":log-group:")[-1].removesuffix(":*")
    response = sb.client("ec2").create_flow_logs(
        ResourceIds=[i["vpcId"]],
        ResourceType="VPC",
        TrafficType=i["trafficType"],
        LogDestinationType=i.get("logDestinationType", "cloud-watch-logs"),
        LogGroupName=group,
        DeliverLogsPermissionArn=i["iamRoleArn"],
        MaxAggregationInterval=int(i.get("maxAggregationInterval", 600)),
    )
    return response["FlowLogIds"][0], {}


def vpc_endpoint(sb: Sandbox, name: str, i: Inputs) -> Created:
    ec2 = sb.client("ec2")
    kind = i.get("vpcEndpointType", "Gateway")
    args: dict[str, Any] = {"VpcId": i["vpcId"], "ServiceName": i["serviceName"], "VpcEndpointType": kind}
    if i.get("policy"):
        args["PolicyDocument"] = i["policy"]
    if kind == "Gateway":
        args["RouteTableIds"] = i.get("routeTableIds") or []
    else:
        args.update(
            SubnetIds=i.get("subnetIds") or [],
            SecurityGroupIds=i.get("securityGroupIds") or [],
            PrivateDnsEnabled=bool(i.get("privateDnsEnabled")),
        )
    e = ec2.create_vpc_endpoint(**args)["VpcEndpoint"]
    lists = {p["PrefixListName"]: p["PrefixListId"] for p in ec2.describe_prefix_lists()["PrefixLists"]}
    return e["VpcEndpointId"], {"prefixListId": lists.get(i["serviceName"], "")}


def internet_gateway(sb: Sandbox, name: str, i: Inputs) -> Created:
    ec2 = sb.client("ec2")
    gid = ec2.create_internet_gateway(TagSpecifications=tag_specifications(i, "internet-gateway"))["InternetGateway"][
        "InternetGatewayId"
    ]
    if i.get("vpcId"):
        ec2.attach_internet_gateway(InternetGatewayId=gid, VpcId=i["vpcId"])
    return gid, {"arn": f"arn:aws:ec2:{sb.cfg.region}:{sb.account}:internet-gateway/{gid}"}


def elastic_ip(sb: Sandbox, name: str, i: Inputs) -> Created:
    allocation = sb.client("ec2").allocate_address(Domain=i.get("domain", "vpc"))
    return allocation["AllocationId"], {"publicIp": allocation.get("PublicIp", "")}


def nat_gateway(sb: Sandbox, name: str, i: Inputs) -> Created:
    nat = sb.client("ec2").create_nat_gateway(
        SubnetId=i["subnetId"], AllocationId=i["allocationId"], TagSpecifications=tag_specifications(i, "natgateway")
    )["NatGateway"]
    return nat["NatGatewayId"], {}


def transit_gateway_attachment(sb: Sandbox, name: str, i: Inputs) -> Created:
    """The VPC's attachment to the client's transit gateway, which their network account shares with this one."""
    ec2 = sb.client("ec2")
    known = ec2.describe_transit_gateways(Filters=[{"Name": "transit-gateway-id", "Values": [i["transitGatewayId"]]}])
    if not known["TransitGateways"]:
        raise EmulatorGap(
            "aws:ec2transitgateway/vpcAttachment:VpcAttachment",
            "ec2:CreateTransitGatewayVpcAttachment",
            f"the client's transit gateway {i['transitGatewayId']} is shared from their network account, not here",
        )
    created = ec2.create_transit_gateway_vpc_attachment(
        TransitGatewayId=i["transitGatewayId"],
        VpcId=i["vpcId"],
        SubnetIds=i["subnetIds"],
        Options={"DnsSupport": i.get("dnsSupport", "enable"), "Ipv6Support": i.get("ipv6Support", "disable")},
        TagSpecifications=tag_specifications(i, "transit-gateway-attachment"),
    )["TransitGatewayVpcAttachment"]
    return created["TransitGatewayAttachmentId"], {}


def _not_in_moto(resource_type: str, api: str) -> Creator:
    """Client VPN: moto has none of its APIs; the endpoint and what hangs off it are reported, not created."""

    def create(sb: Sandbox, name: str, i: Inputs) -> Created:
        raise EmulatorGap(resource_type, api, "moto does not implement Client VPN")

    return create


CREATORS: dict[str, Creator] = {
    **{
        f"aws:ec2clientvpn/{kind}": _not_in_moto(f"aws:ec2clientvpn/{kind}", f"ec2:{api}")
        for kind, api in (
            ("endpoint:Endpoint", "CreateClientVpnEndpoint"),
            ("networkAssociation:NetworkAssociation", "AssociateClientVpnTargetNetwork"),
            ("authorizationRule:AuthorizationRule", "AuthorizeClientVpnIngress"),
        )
    },
    "aws:ec2transitgateway/vpcAttachment:VpcAttachment": transit_gateway_attachment,
    "aws:ec2/internetGateway:InternetGateway": internet_gateway,
    "aws:ec2/eip:Eip": elastic_ip,
    "aws:ec2/natGateway:NatGateway": nat_gateway,
    "aws:ec2/vpc:Vpc": vpc,
    "aws:ec2/subnet:Subnet": subnet,
    "aws:ec2/routeTable:RouteTable": route_table,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": route_table_association,
    "aws:ec2/route:Route": route,
    "aws:ec2/securityGroup:SecurityGroup": security_group,
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": default_security_group,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ingress_rule,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": egress_rule,
    "aws:ec2/networkAcl:NetworkAcl": network_acl,
    "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl": default_network_acl,
    "aws:ec2/flowLog:FlowLog": flow_log,
    "aws:ec2/vpcEndpoint:VpcEndpoint": vpc_endpoint,
}
