"""Creators for the internal network load balancer in front of several GPU hosts: the balancer, its target group
with the readiness health check, the hosts as targets, and the TLS listener."""

from __future__ import annotations

from typing import Any

from infra.sandbox.engine import Created, Creator, EmulatorGap, Inputs, Sandbox, tag_list


def load_balancer(sb: Sandbox, name: str, i: Inputs) -> Created:
    elb = sb.client("elbv2")
    lb = elb.create_load_balancer(
        Name=i["name"],
        Subnets=i["subnets"],
        SecurityGroups=i.get("securityGroups") or [],
        Scheme="internal" if i.get("internal") else "internet-facing",
        Type=i.get("loadBalancerType", "application"),
        Tags=tag_list(i),
    )["LoadBalancers"][0]
    attributes = [
        {"Key": "load_balancing.cross_zone.enabled", "Value": str(bool(i.get("enableCrossZoneLoadBalancing"))).lower()},
        {"Key": "deletion_protection.enabled", "Value": str(bool(i.get("enableDeletionProtection"))).lower()},
    ]
    logs = i.get("accessLogs") or {}
    if logs.get("enabled"):
        attributes += [
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": logs["bucket"]},
            {"Key": "access_logs.s3.prefix", "Value": logs.get("prefix") or ""},
        ]
    elb.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=attributes)
    return lb["LoadBalancerArn"], {"arn": lb["LoadBalancerArn"], "dnsName": lb["DNSName"]}


def target_group(sb: Sandbox, name: str, i: Inputs) -> Created:
    check = i.get("healthCheck") or {}
    args: dict[str, Any] = {
        "Name": i.get("name") or name[:32],
        "Protocol": i["protocol"],
        "Port": int(i["port"]),
        "VpcId": i["vpcId"],
        "TargetType": i.get("targetType", "instance"),
        "HealthCheckProtocol": check.get("protocol"),
        "HealthCheckPath": check.get("path"),
        "HealthCheckPort": check.get("port"),
        "HealthCheckIntervalSeconds": int(check["interval"]) if "interval" in check else None,
        "HealthyThresholdCount": int(check["healthyThreshold"]) if "healthyThreshold" in check else None,
        "UnhealthyThresholdCount": int(check["unhealthyThreshold"]) if "unhealthyThreshold" in check else None,
        "Matcher": {"HttpCode": check["matcher"]} if "matcher" in check else None,
        "Tags": tag_list(i),
    }
    group = sb.client("elbv2").create_target_group(**{k: v for k, v in args.items() if v is not None})
    arn = group["TargetGroups"][0]["TargetGroupArn"]
    return arn, {"arn": arn}


def target_group_attachment(sb: Sandbox, name: str, i: Inputs) -> Created:
    target = {"Id": i["targetId"], **({"Port": int(i["port"])} if i.get("port") else {})}
    sb.client("elbv2").register_targets(TargetGroupArn=i["targetGroupArn"], Targets=[target])
    return f"{i['targetGroupArn']}-{i['targetId']}", {}


def listener(sb: Sandbox, name: str, i: Inputs) -> Created:
    actions = [{"Type": a["type"], "TargetGroupArn": a["targetGroupArn"]} for a in i.get("defaultActions") or []]
    args: dict[str, Any] = {
        "LoadBalancerArn": i["loadBalancerArn"],
        "Protocol": i["protocol"],
        "Port": int(i["port"]),
        "SslPolicy": i.get("sslPolicy"),
        "Certificates": [{"CertificateArn": i["certificateArn"]}] if i.get("certificateArn") else None,
        "DefaultActions": actions,
        "Tags": tag_list(i),
    }
    elb = sb.client("elbv2")
    try:
        created = elb.create_listener(**{k: v for k, v in args.items() if v is not None})
    except elb.exceptions.CertificateNotFoundException:
        # The gateway's certificate is the client's (ACM, issued for their domain), not the stack's.
        raise EmulatorGap(
            "aws:lb/listener:Listener", "elbv2:CreateListener", "the client's ACM certificate is not in this account"
        ) from None
    arn = created["Listeners"][0]["ListenerArn"]
    return arn, {"arn": arn}


CREATORS: dict[str, Creator] = {
    "aws:lb/loadBalancer:LoadBalancer": load_balancer,
    "aws:lb/targetGroup:TargetGroup": target_group,
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": target_group_attachment,
    "aws:lb/listener:Listener": listener,
}
