"""Small helpers the control modules share: findings, ARNs, and per-resource iteration."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from compliance.facts import Facts, R, unreadable
from compliance.model import Control, Evaluate, Finding, Severity, Status

# Any fact record, as the helpers shared by every control read it (a control names its own record type).
Record = Mapping[str, Any]

INTERNET_V4 = "0.0.0.0/0"
INTERNET_V6 = "::/0"


def partition(region: str) -> str:
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def arn(facts: Facts, service: str, region: str, resource: str) -> str:
    return f"arn:{partition(region)}:{service}:{region}:{facts.account}:{resource}"


def ec2_arn(facts: Facts, item: Record, kind: str) -> str:
    return arn(facts, "ec2", item["region"], f"{kind}/{item['id']}")


def finding(
    status: Status, resource_id: str, resource_type: str, region: str, message: str, **evidence: Any
) -> Finding:
    return Finding(status, resource_id, resource_type, message, region, dict(evidence))


def regional_absence(facts: Facts, resource_type: str, what: str) -> list[Finding]:
    """PASS per region scanned when a kind of thing that must not exist does not."""
    return [
        finding(Status.PASS, f"{facts.account}/{r}", resource_type, r, f"No {what} exists in {r}.")
        for r in facts.regions
    ]


def unreadable_findings(item: Record, keys: Iterable[str], rid: str, rtype: str, what: str) -> list[Finding]:
    """ERROR findings for the values of ``item`` this control needs but could not be read."""
    out = []
    for key in keys:
        reason = unreadable(item.get(key))
        if reason is not None:
            out.append(
                finding(
                    Status.ERROR,
                    rid,
                    rtype,
                    item.get("region", "global"),
                    f"The {key.replace('_', ' ')} of {what} could not be read: {reason['api']} answered "
                    f"{reason['error']}.",
                    unreadable=reason,
                )
            )
    return out


def each(
    items: Iterable[R],
    needs: tuple[str, ...],
    rid: Callable[[R], str],
    rtype: str,
    name: Callable[[R], str],
    judge: Callable[[R], tuple[bool, str, dict[str, Any]]],
) -> list[Finding]:
    """Judge every item: ERROR if a value it needs is unreadable, else PASS or FAIL with the judge's sentence."""
    out: list[Finding] = []
    for item in items:
        errors = unreadable_findings(item, needs, rid(item), rtype, name(item))
        if errors:
            out.extend(errors)
            continue
        ok, message, evidence = judge(item)
        out.append(
            finding(
                Status.PASS if ok else Status.FAIL, rid(item), rtype, item.get("region", "global"), message, **evidence
            )
        )
    return out


def is_internet(cidr: str | None) -> bool:
    return cidr in (INTERNET_V4, INTERNET_V6)


def within(cidr: str, network: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).subnet_of(ipaddress.ip_network(network))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False


def control(
    cid: str,
    title: str,
    severity: Severity,
    hipaa: tuple[str, ...],
    facts: tuple[str, ...],
    permissions: tuple[str, ...],
    rationale: str,
    remediation: str,
    evaluate: Evaluate,
) -> Control:
    """An automated control, in the order the control modules read best."""
    return Control(cid, title, severity, hipaa, rationale, remediation, facts, permissions, evaluate)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def open_statements(document: dict[str, Any], account: str) -> list[dict[str, Any]]:
    """Allow statements of a resource policy open to anyone or to another account, with no condition that pins
    down who or where (compliance/controls/_iameffect.py: a key such as aws:SourceAccount counts only with a
    concrete value, through an operator that cannot hold when the key is absent)."""
    from compliance.controls._iameffect import open_to_outsiders

    return [st for st, _ in open_to_outsiders(document, account)]


def customer_managed_key(facts: Facts) -> Callable[[str | None], bool]:
    """Whether a key reference (an ARN, or the bare key id) names one of the account's customer-managed keys."""
    from compliance.facts.storage import KMS_KEYS

    arns = {k["arn"] for k in facts.get(KMS_KEYS) if k.get("manager") == "CUSTOMER"}
    ids = {a.rsplit("/", 1)[-1] for a in arns}
    return lambda key: bool(key) and (key in arns or str(key).rsplit("/", 1)[-1] in ids)


def denies_insecure_transport(document: dict[str, Any], service: str = "s3") -> bool:
    """True when a Deny for everyone on ``service`` applies whenever aws:SecureTransport is false."""
    for st in as_list(document.get("Statement", [])):
        if not isinstance(st, dict) or st.get("Effect") != "Deny":
            continue
        if st.get("Principal") not in ("*", {"AWS": "*"}):
            continue
        actions = {a.lower() for a in as_list(st.get("Action", []))}
        if not actions & {f"{service}:*", "*"}:
            continue
        secure = (st.get("Condition") or {}).get("Bool", {}).get("aws:SecureTransport")
        if str(secure).lower() == "false":
            return True
    return False
