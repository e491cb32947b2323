"""Where TLS ends in front of the gateways: the internal load balancer (deletion protection, access logs, TLS 1.2+
listeners) and the certificates it presents (not about to expire)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from compliance.controls._base import Record, control, each
from compliance.facts import Facts
from compliance.facts.network import CERTIFICATES, LOAD_BALANCERS
from compliance.model import Control, Finding

BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
CERTIFICATE = "AWS::CertificateManager::Certificate"
# At least this many days of validity left on a certificate in use: time to renew or re-import before clients
# refuse the gateway (Prowler's default is 7).
MIN_CERTIFICATE_DAYS = 30
ENCRYPTED = ("TLS", "HTTPS")
# ELB security policies whose lowest protocol is TLS 1.2 or 1.3 (TLS13-1-2-..., TLS-1-2-..., FS-1-2-...); the
# others (2016-08, TLS-1-1-..., TLS13-1-0-..., FS-2018-06) still accept TLS 1.0 or 1.1.
_MODERN_POLICY = re.compile(r"-(TLS13|TLS|FS)-1-[23](-|$)")


def _balancers(facts: Facts, needs: tuple[str, ...], judge: Any) -> list[Finding]:
    return each(
        facts.get(LOAD_BALANCERS), needs, lambda b: b["arn"], BALANCER, lambda b: f"load balancer {b['name']}", judge
    )


def deletion_protection(facts: Facts) -> list[Finding]:
    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        if b.get("deletion_protection"):
            return True, f"Load balancer {b['name']} has deletion protection.", {}
        return False, f"Load balancer {b['name']} can be deleted by one API call (no deletion protection).", {}

    return _balancers(facts, ("deletion_protection",), judge)


def access_logs(facts: Facts) -> list[Finding]:
    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        bucket = b.get("access_logs_bucket")
        if bucket:
            return True, f"Load balancer {b['name']} writes access logs to bucket {bucket}.", {"bucket": bucket}
        return False, f"Load balancer {b['name']} keeps no access logs.", {}

    return _balancers(facts, ("access_logs_bucket",), judge)


def tls_listeners(facts: Facts) -> list[Finding]:
    def judge(b: Record) -> tuple[bool, str, dict[str, Any]]:
        weak = [
            f"{x['protocol']} {x['port']}" + (f" ({x['ssl_policy']})" if x.get("ssl_policy") else "")
            for x in b["listeners"]
            if x.get("protocol") != "GENEVE"  # a gateway load balancer's listener passes packets on, unterminated
            and (x.get("protocol") not in ENCRYPTED or not _MODERN_POLICY.search(str(x.get("ssl_policy") or "")))
        ]
        if weak:
            return (
                False,
                f"Load balancer {b['name']} has listeners without TLS 1.2 or later: {', '.join(weak)}.",
                {"listeners": weak},
            )
        ports = ", ".join(str(x["port"]) for x in b["listeners"]) or "none"
        return True, f"Every listener of load balancer {b['name']} requires TLS 1.2 or later (ports {ports}).", {}

    return _balancers(facts, ("listeners",), judge)


def certificates_valid(facts: Facts) -> list[Finding]:
    now = dt.datetime.now(dt.UTC)

    def judge(c: Record) -> tuple[bool, str, dict[str, Any]]:
        users = ", ".join(c["in_use_by"])
        if not c.get("not_after"):
            return False, f"Certificate {c['domain']} ({c.get('status')}) is used by {users} but was never issued.", {}
        expiry = dt.datetime.fromisoformat(c["not_after"])
        left = (expiry.replace(tzinfo=expiry.tzinfo or dt.UTC) - now).total_seconds()
        days = int(left // 86400)
        evidence = {"not_after": c["not_after"], "days_left": days, "in_use_by": c["in_use_by"]}
        if left < 0:
            ago = int(-left // 86400)
            return False, f"Certificate {c['domain']} expired {ago} days ago and is still used by {users}.", evidence
        if days < MIN_CERTIFICATE_DAYS:
            return (
                False,
                f"Certificate {c['domain']} expires in {days} days (under {MIN_CERTIFICATE_DAYS}); used by {users}.",
                evidence,
            )
        return True, f"Certificate {c['domain']} is valid for {days} more days.", evidence

    in_use = [c for c in facts.get(CERTIFICATES) if c["in_use_by"]]
    return each(in_use, (), lambda c: c["arn"], CERTIFICATE, lambda c: f"certificate {c['domain']}", judge)


CONTROLS: tuple[Control, ...] = (
    control(
        "elb-deletion-protection",
        "Load balancers have deletion protection",
        "low",
        ("164.308(a)(1)(ii)(B)", "164.308(a)(7)(i)"),
        ("load_balancers",),
        ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes"),
        "The gateways are reached only through the load balancer: deleting it by mistake stops clinical use.",
        "aws elbv2 modify-load-balancer-attributes --attributes Key=deletion_protection.enabled,Value=true",
        deletion_protection,
    ),
    control(
        "elb-access-logs",
        "Load balancers keep access logs",
        "medium",
        ("164.312(b)", "164.308(a)(1)(ii)(D)"),
        ("load_balancers",),
        ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes"),
        "Which client connected when, and with which TLS version, is part of the record of access to the systems "
        "holding PHI; the gateway's own audit trail starts only once a request is authenticated.",
        "Enable access_logs.s3 to the stack's access-log bucket (aws elbv2 modify-load-balancer-attributes).",
        access_logs,
    ),
    control(
        "elb-tls-listeners",
        "Load balancer listeners require TLS 1.2 or later",
        "high",
        ("164.312(e)(1)", "164.312(e)(2)(ii)"),
        ("load_balancers",),
        ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeListeners"),
        "Questions and answers about patients pass through the listener: a plaintext or TLS 1.0 listener exposes "
        "them on the network.",
        "Use TLS/HTTPS listeners with ELBSecurityPolicy-TLS13-1-2-2021-06 (aws elbv2 modify-listener --ssl-policy).",
        tls_listeners,
    ),
    control(
        "acm-certificates-valid",
        f"Certificates in use are valid for at least {MIN_CERTIFICATE_DAYS} more days",
        "medium",
        ("164.312(e)(1)",),
        ("certificates",),
        ("acm:ListCertificates", "acm:DescribeCertificate"),
        "An expired certificate breaks the gateway for every clinic client at once, and invites clients to accept "
        "certificate errors.",
        "Renew or re-import the certificate in ACM before it expires (aws acm import-certificate "
        "--certificate-arn ARN).",
        certificates_valid,
    ),
)
