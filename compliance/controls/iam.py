"""IAM: no administrator wildcards, a locked-down root user, MFA for people, fresh access keys."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from compliance.controls._base import Record, control, each, finding
from compliance.controls._iameffect import ADMIN_SHARE, admin_share, allowed, catalogue, escalations, open_to_outsiders
from compliance.facts import Facts, unreadable, unreadable_marker
from compliance.facts.identity import IAM_PASSWORD_POLICY, IAM_POLICIES, IAM_ROLES, IAM_ROOT, IAM_USERS, IamUser
from compliance.model import Control, Finding, Status

KEY_MAX_AGE_DAYS = 90
PASSWORD_MIN_LENGTH, PASSWORD_REUSE = 14, 24  # Prowler's hipaa_aws and CIS AWS Foundations' bar
UNUSED_DAYS = 45  # Prowler's and CIS's threshold for credentials nobody uses
KIND_WORDS = {"managed": "customer-managed", "aws-managed": "AWS-managed", "inline": "inline"}


def _has_active_key(user: IamUser) -> bool:
    keys = user["access_keys"]
    return isinstance(keys, list) and any(k["active"] for k in keys)


def _parsed(raw: Any) -> dict[str, Any]:
    """A policy document as the source handed it (JSON text or parsed), parsed; run only on _readable ones."""
    doc = json.loads(raw) if isinstance(raw, str) else raw
    return doc if isinstance(doc, dict) else {}


def _what(p: Record) -> str:
    return f"{KIND_WORDS.get(p.get('kind', 'managed'), 'managed')} policy {p['name']}"


def _readable(doc: Any) -> bool:
    """A policy document IAM could have returned: an object whose Statement is one statement object or a list of
    them. Anything else is judged as unreadable (ERROR), never as allowing nothing."""
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            return False
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    listed = statements if isinstance(statements, list) else [statements]
    return bool(listed) and all(isinstance(st, dict) for st in listed)


def _judgeable(items: list[Any], key: str, api: str) -> list[Record]:
    """The records, each whose policy document under ``key`` is malformed given an unreadable marker instead, so
    its controls say ERROR rather than read it as allowing nothing."""
    out: list[Record] = []
    for item in items:
        if unreadable(item.get(key)) is None and not _readable(item.get(key)):
            out.append({**item, key: unreadable_marker(api, "a document that is not a policy")})
        else:
            out.append(item)
    return out


def _attached(facts: Facts) -> list[Record]:
    return _judgeable(
        [p for p in facts.get(IAM_POLICIES) if p.get("attached", True)], "document", "iam:GetPolicyVersion"
    )


def no_star_policies(facts: Facts) -> list[Finding]:
    """Administrator rights by effect: NotAction, NotResource and wildcards count; no condition excuses them."""

    def judge(p: Record) -> tuple[bool, str, dict[str, Any]]:
        grant = allowed(_parsed(p["document"]), facts.account)
        share = admin_share(grant)
        if share >= 1.0:
            return (
                False,
                f'IAM {_what(p)} allows every action on every resource ("*:*").',
                {"statements": list(grant.statements)},
            )
        if share >= ADMIN_SHARE:
            total = len(catalogue())
            return (
                False,
                f"IAM {_what(p)} allows {round(share * total)} of AWS's {total} actions on every resource "
                "(read by effect: NotAction, NotResource and wildcards count, and no condition makes it less): "
                "administrator rights.",
                {"statements": list(grant.statements), "share": round(share, 4)},
            )
        return True, f"IAM {_what(p)} does not grant administrator rights (read by effect).", {"share": round(share, 4)}

    return each(
        _attached(facts), ("document",), lambda p: p["arn"], "AWS::IAM::Policy", lambda p: f"policy {p['name']}", judge
    )


def no_privilege_escalation(facts: Facts) -> list[Finding]:
    """Attached policies that let whoever holds them give themselves more (the methods of
    compliance/controls/_escalation.py). An AWS-managed policy is judged on the methods that need no iam:PassRole
    (IAMFullAccess lets its holder attach AdministratorAccess to itself): a service role's managed policy passes
    roles to its own service by design (AWS Backup's restores, Auto Scaling), which is not the holder escalating."""

    def judge(p: Record) -> tuple[bool, str, dict[str, Any]]:
        ways = escalations(allowed(_parsed(p["document"]), facts.account), passing_roles=p.get("kind") != "aws-managed")
        if ways:
            return False, f"IAM {_what(p)} allows privilege escalation: {'; '.join(ways)}.", {"methods": ways}
        return True, f"IAM {_what(p)} allows no known way to escalate privileges.", {}

    return each(
        _attached(facts), ("document",), lambda p: p["arn"], "AWS::IAM::Policy", lambda p: f"policy {p['name']}", judge
    )


def role_trust_not_public(facts: Facts) -> list[Finding]:
    """A role that principals outside the account may assume with no condition pinning down who or from where (the
    organization, an external id, the source account or ARN)."""

    def judge(r: Record) -> tuple[bool, str, dict[str, Any]]:
        trust = _parsed(r["trust"])
        open_to = [who for _, found in open_to_outsiders(trust, facts.account) for who in found]
        if open_to:
            return (
                False,
                f"Role {r['name']} may be assumed by {', '.join(sorted(set(open_to)))} with no condition on the "
                "organization, an external id or the source account.",
                {"outsiders": sorted(set(open_to))},
            )
        return True, f"Role {r['name']} trusts only this account, AWS services, or outsiders under a condition.", {}

    roles = _judgeable(facts.get(IAM_ROLES), "trust", "iam:ListRoles")
    return each(roles, ("trust",), lambda r: r["arn"], "AWS::IAM::Role", lambda r: f"role {r['name']}", judge)


def _root(facts: Facts, key: str, good_when: bool, good: str, bad: str) -> list[Finding]:
    """Judge the root user on one flag of the account summary."""

    def judge(r: Record) -> tuple[bool, str, dict[str, Any]]:
        ok = bool(r.get(key)) is good_when
        return ok, f"The root user of account {facts.account} {good if ok else bad}.", {key: r.get(key)}

    return each(
        facts.get(IAM_ROOT),
        (key,),
        lambda r: f"arn:aws:iam::{facts.account}:root",
        "AWS::IAM::User",
        lambda r: "the root user",
        judge,
    )


def root_no_keys(facts: Facts) -> list[Finding]:
    return _root(facts, "access_keys_present", False, "has no access keys", "has access keys")


def root_mfa(facts: Facts) -> list[Finding]:
    return _root(facts, "mfa_enabled", True, "signs in with MFA", "has no MFA device")


def root_hardware_mfa(facts: Facts) -> list[Finding]:
    def judge(r: Record) -> tuple[bool, str, dict[str, Any]]:
        who = f"The root user of account {facts.account}"
        if not r.get("mfa_enabled"):
            return False, f"{who} has no MFA device, hardware or virtual.", {}
        if r.get("mfa_virtual"):
            return False, f"{who} signs in with a virtual MFA device (an app on a phone), not a hardware key.", {}
        return True, f"{who} signs in with a hardware MFA device.", {}

    return each(
        facts.get(IAM_ROOT),
        ("mfa_enabled", "mfa_virtual"),
        lambda r: f"arn:aws:iam::{facts.account}:root",
        "AWS::IAM::User",
        lambda r: "the root user",
        judge,
    )


def _no_users(facts: Facts, what: str) -> list[Finding]:
    """The account-level PASS when no IAM user has the credential a control is about."""
    return [
        finding(
            Status.PASS,
            f"arn:aws:iam::{facts.account}:root",
            "AWS::IAM::User",
            "global",
            f"No IAM user of account {facts.account} has {what}.",
        )
    ]


def _judge_users(facts: Facts, users: list[Any], what: str, needs: tuple[str, ...], judge: Any) -> list[Finding]:
    """Each user that has ``what`` judged; the account-level PASS when none has."""
    if not users:
        return _no_users(facts, what)
    return each(users, needs, lambda u: u["arn"], "AWS::IAM::User", lambda u: f"user {u['name']}", judge)


def console_mfa(facts: Facts) -> list[Finding]:
    def judge(u: Record) -> tuple[bool, str, dict[str, Any]]:
        if u.get("mfa_active"):
            return True, f"IAM user {u['name']} signs in to the console with MFA.", {}
        return False, f"IAM user {u['name']} has a console password but no MFA device.", {}

    users = [u for u in facts.get(IAM_USERS) if u.get("password_enabled")]
    return _judge_users(facts, users, "a console password", ("mfa_active",), judge)


def _days_since(when: Any, now: dt.datetime) -> int:
    return (now - dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))).days


def access_keys_rotated(facts: Facts) -> list[Finding]:
    now = dt.datetime.now(dt.UTC)

    def judge(u: Record) -> tuple[bool, str, dict[str, Any]]:
        old = []
        for key in u.get("access_keys") or []:
            if not key.get("active"):
                continue
            age = _days_since(key["created"], now)
            if age > KEY_MAX_AGE_DAYS:
                old.append(f"{key.get('id', '?')} ({age} days)")
        if old:
            return (
                False,
                f"IAM user {u['name']} has active access keys older than {KEY_MAX_AGE_DAYS} days: {', '.join(old)}.",
                {},
            )
        return True, f"IAM user {u['name']} has no active access key older than {KEY_MAX_AGE_DAYS} days.", {}

    users = [u for u in facts.get(IAM_USERS) if _has_active_key(u)]
    return _judge_users(facts, users, "an active access key", ("access_keys",), judge)


def _use_unknown(user: IamUser) -> Record:
    """The user with its keys unreadable when an active key's last use could not be read: that user is ERROR
    (it may be unused), never PASS or FAIL."""
    keys = user["access_keys"]
    if isinstance(keys, list):
        for key in keys:
            if key["active"] and isinstance(key["last_used"], dict):
                return {**user, "access_keys": key["last_used"]}
    return dict(user)


def unused_credentials(facts: Facts) -> list[Finding]:
    """A password or an active key nobody used for UNUSED_DAYS (or since it was made, if never used)."""
    now = dt.datetime.now(dt.UTC)

    def judge(u: Record) -> tuple[bool, str, dict[str, Any]]:
        stale = []
        if u.get("password_enabled"):
            idle = _days_since(u.get("password_last_used") or u["created"], now)
            if idle > UNUSED_DAYS:
                stale.append(
                    f"console password ({'unused' if u.get('password_last_used') else 'never used'}, {idle} days)"
                )
        for key in u.get("access_keys") or []:
            if key.get("active"):
                last = key.get("last_used")
                idle = _days_since(last or key["created"], now)
                if idle > UNUSED_DAYS:
                    stale.append(f"access key {key.get('id', '?')} ({'unused' if last else 'never used'}, {idle} days)")
        if stale:
            return (
                False,
                f"IAM user {u['name']} keeps credentials unused for over {UNUSED_DAYS} days: {', '.join(stale)}.",
                {},
            )
        return True, f"IAM user {u['name']} has no credential unused for over {UNUSED_DAYS} days.", {}

    users = [_use_unknown(u) for u in facts.get(IAM_USERS) if u.get("password_enabled") or _has_active_key(u)]
    what = "a console password or an active access key"
    return _judge_users(facts, users, what, ("access_keys", "password_enabled"), judge)


def password_policy(facts: Facts) -> list[Finding]:
    def judge(p: Record) -> tuple[bool, str, dict[str, Any]]:
        if not p["present"]:
            return (
                False,
                f"Account {facts.account} has no password policy: IAM accepts any password of 8 characters.",
                {},
            )
        weak = []
        if (p.get("minimum_length") or 0) < PASSWORD_MIN_LENGTH:
            weak.append(f"minimum length {p.get('minimum_length')} (under {PASSWORD_MIN_LENGTH})")
        for kind in ("lowercase", "uppercase", "numbers", "symbols"):
            if not p.get(f"require_{kind}"):
                weak.append(f"{kind} not required")
        if (p.get("reuse_prevention") or 0) < PASSWORD_REUSE:
            weak.append(
                f"only the last {p.get('reuse_prevention') or 0} passwords barred from reuse (under {PASSWORD_REUSE})"
            )
        if weak:
            return False, f"Account {facts.account}'s password policy is weak: {'; '.join(weak)}.", {"policy": dict(p)}
        return (
            True,
            (
                f"Account {facts.account}'s password policy asks for {p['minimum_length']}+ characters of all four "
                f"kinds and bars the last {p['reuse_prevention']}."
            ),
            {},
        )

    return each(
        facts.get(IAM_PASSWORD_POLICY),
        ("present",),
        lambda p: f"arn:aws:iam::{facts.account}:account-password-policy",
        "AWS::IAM::AccountPasswordPolicy",
        lambda p: "the account password policy",
        judge,
    )


AUTH = ("164.312(d)", "164.312(a)(1)")
# Every attached policy's document: customer-managed and AWS-managed ones, and users', groups' and roles' inline ones.
POLICY_READS = (
    "iam:ListPolicies", "iam:GetPolicyVersion", "iam:ListRoles", "iam:ListRolePolicies", "iam:GetRolePolicy",
    "iam:ListUsers", "iam:ListUserPolicies", "iam:GetUserPolicy", "iam:ListGroups", "iam:ListGroupPolicies",
    "iam:GetGroupPolicy",
)  # fmt: skip

CONTROLS: tuple[Control, ...] = (
    control(
        "iam-no-star-policies",
        "No attached IAM policy grants administrator rights, whatever its wording",
        "high",
        ("164.308(a)(4)(ii)(B)", "164.312(a)(1)"),
        ("iam_policies",),
        POLICY_READS,
        "Full administrator rights defeat every other access control, PHI included.",
        "Replace the statement with the actions and resources the principal needs.",
        no_star_policies,
    ),
    control(
        "iam-no-privilege-escalation",
        "No attached IAM policy lets its holder escalate its own privileges",
        "high",
        ("164.308(a)(4)(ii)(B)", "164.308(a)(3)(ii)(A)", "164.312(a)(1)"),
        ("iam_policies",),
        POLICY_READS,
        "A principal that can attach a policy to itself, write a new policy version or pass a role to a compute "
        "service it starts holds every right that policy or role has: access to PHI beyond what it was granted.",
        "Remove the listed actions, or scope them to resources that cannot widen the holder's own rights (never its "
        "own user, group or role, never a role more privileged than it).",
        no_privilege_escalation,
    ),
    control(
        "iam-role-trust-not-public",
        "No role can be assumed from outside the account without a condition",
        "critical",
        ("164.308(a)(4)(ii)(B)", "164.312(a)(1)", "164.312(d)"),
        ("iam_roles",),
        ("iam:ListRoles",),
        "A role anyone (or any account, or any user of an identity provider) may assume hands its rights, and "
        "through them PHI, to whoever asks.",
        "Name the accounts or roles that may assume it, and add a condition on aws:PrincipalOrgID, sts:ExternalId "
        "or aws:SourceAccount (aws iam update-assume-role-policy).",
        role_trust_not_public,
    ),
    control(
        "iam-root-no-access-keys",
        "The root user has no access keys",
        "critical",
        AUTH,
        ("iam_root",),
        ("iam:GetAccountSummary",),
        "Root keys cannot be limited by any policy; leaked, they give away the account.",
        "Delete the root user's access keys (sign in as root, Security credentials).",
        root_no_keys,
    ),
    control(
        "iam-root-mfa",
        "The root user has MFA",
        "critical",
        AUTH,
        ("iam_root",),
        ("iam:GetAccountSummary",),
        "A password alone is not enough for the one identity that can do anything.",
        "Assign a hardware or virtual MFA device to the root user.",
        root_mfa,
    ),
    control(
        "iam-root-hardware-mfa",
        "The root user's MFA is a hardware device",
        "high",
        AUTH,
        ("iam_root",),
        ("iam:GetAccountSummary", "iam:ListVirtualMFADevices"),
        "A virtual device lives on a phone that is backed up, cloned and carried everywhere; a hardware key is the "
        "one second factor for the root user that cannot be copied.",
        "Register a FIDO security key or hardware TOTP token for the root user and remove the virtual device.",
        root_hardware_mfa,
    ),
    control(
        "iam-console-mfa",
        "IAM users with console passwords have MFA",
        "high",
        AUTH,
        ("iam_users",),
        ("iam:ListUsers", "iam:GetLoginProfile", "iam:ListMFADevices", "iam:ListAccessKeys"),
        "Person or entity authentication (164.312(d)) needs more than a password for access to PHI systems.",
        "Enforce MFA, or better, move people to IAM Identity Center federated to the client's IdP.",
        console_mfa,
    ),
    control(
        "iam-access-keys-rotated",
        f"Active access keys are at most {KEY_MAX_AGE_DAYS} days old",
        "medium",
        ("164.308(a)(5)(ii)(D)", "164.312(d)"),
        ("iam_users",),
        ("iam:ListUsers", "iam:GetLoginProfile", "iam:ListMFADevices", "iam:ListAccessKeys"),
        "Old long-lived keys are the credentials most often found leaked.",
        "Rotate the key (create, switch, deactivate, delete), or replace it with a role.",
        access_keys_rotated,
    ),
    control(
        "iam-unused-credentials",
        f"No console password or access key is left unused for over {UNUSED_DAYS} days",
        "medium",
        ("164.308(a)(3)(ii)(C)", "164.308(a)(4)(ii)(C)", "164.312(d)"),
        ("iam_users",),
        (
            "iam:ListUsers",
            "iam:GetLoginProfile",
            "iam:ListMFADevices",
            "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed",
        ),  # fmt: skip
        "A credential nobody uses belongs to someone who left or a job that ended: access that should be gone.",
        "Delete the login profile or the access key (or deactivate it first); people should sign in through the IdP.",
        unused_credentials,
    ),
    control(
        "iam-password-policy",
        f"Passwords need {PASSWORD_MIN_LENGTH}+ characters of all four kinds and no reuse of the last {PASSWORD_REUSE}",
        "medium",
        ("164.308(a)(5)(ii)(D)", "164.312(d)"),
        ("iam_password_policy",),
        ("iam:GetAccountPasswordPolicy",),
        "Password management (164.308(a)(5)(ii)(D)) for any IAM user who signs in with a password.",
        "aws iam update-account-password-policy --minimum-password-length 14 --require-symbols --require-numbers "
        "--require-uppercase-characters --require-lowercase-characters --password-reuse-prevention 24",
        password_policy,
    ),
)
