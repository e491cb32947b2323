"""The firewall judges of the network controls (declared in ``network``): the default security group closed, no
ingress from the internet, egress only within the VPC or to the AWS endpoints, no admin ports open in a NACL."""

from __future__ import annotations

from typing import Any

from compliance.controls._base import (
    Record,
    each,
    ec2_arn,
    is_internet,
    within,
)
from compliance.facts import Facts
from compliance.facts.network import NETWORK_ACLS, SECURITY_GROUPS, VPC_ENDPOINTS, VPCS
from compliance.model import Finding

ADMIN_PORTS = (22, 3389)


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


def _admitted_from_internet(acl: Record, covers: Any) -> set[Any]:
    """What ``acl`` lets in from the internet, of what ``covers(entry)`` says an entry concerns. NACLs are
    evaluated in rule order: the first matching rule decides, so an earlier deny shields a later allow."""
    entries = sorted((e for e in acl["entries"] if not e.get("egress")), key=lambda e: e.get("rule_no", 0))
    exposed: set[Any] = set()
    decided: set[Any] = set()
    for e in entries:
        concerned = [x for x in covers(e) if x not in decided]
        if is_internet(e.get("cidr")) and concerned:
            decided.update(concerned)
            if e.get("action") == "allow":
                exposed.update(concerned)
    return exposed


def _each_acl(facts: Facts, judge: Any) -> list[Finding]:
    return each(
        facts.get(NETWORK_ACLS),
        ("entries",),
        lambda a: ec2_arn(facts, a, "network-acl"),
        "AWS::EC2::NetworkAcl",
        lambda a: f"network ACL {a['id']}",
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
        exposed = _admitted_from_internet(acl, covers_admin)
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

    return _each_acl(facts, judge)


def nacl_no_all_traffic_from_internet(facts: Facts) -> list[Finding]:
    """Every protocol and port from anywhere (Prowler's ec2_networkacl_allow_ingress_any_port). Return traffic
    on the ephemeral TCP ports, which a private subnet needs from its endpoints, is not all traffic."""

    def judge(acl: Record) -> tuple[bool, str, dict[str, Any]]:
        if _admitted_from_internet(acl, lambda e: ["all"] if e.get("protocol") in ("-1", "all") else []):
            return (
                False,
                f"Network ACL {acl['id']} (VPC {acl['vpc_id']}) allows all traffic, every port and protocol, in from "
                "the internet.",
                {"entries": acl["entries"]},
            )
        return True, f"Network ACL {acl['id']} (VPC {acl['vpc_id']}) does not admit all traffic from the internet.", {}

    return _each_acl(facts, judge)
