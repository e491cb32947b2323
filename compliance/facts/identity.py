"""Records of IAM: policies (managed and inline), the root user, IAM users."""

from __future__ import annotations

from typing import Literal, TypedDict

from compliance.facts._kind import Kind, Unreadable


class IamPolicy(TypedDict):
    arn: str
    name: str
    region: Literal["global"]
    kind: Literal["managed", "aws-managed", "inline"]  # managed: the customer's; aws-managed: AWS's own
    attached: bool
    document: str | dict[str, object] | Unreadable | None  # JSON text or parsed, as the source hands it


class IamRole(TypedDict):
    name: str
    arn: str
    region: Literal["global"]
    trust: str | dict[str, object] | Unreadable | None  # the trust (assume-role) policy, JSON text or parsed


class IamRoot(TypedDict):
    region: Literal["global"]
    access_keys_present: bool
    mfa_enabled: bool
    mfa_virtual: bool | Unreadable  # its MFA is a virtual device (an authenticator app), not a hardware key


class AccessKey(TypedDict):
    id: str
    active: bool
    created: str  # ISO date-time
    last_used: str | Unreadable | None  # ISO date-time; None: never used


class IamUser(TypedDict):
    name: str
    arn: str
    region: Literal["global"]
    created: str  # ISO date-time
    password_enabled: bool | Unreadable
    password_last_used: str | None  # ISO date-time; None: never (or no password)
    mfa_active: bool | Unreadable
    access_keys: list[AccessKey] | Unreadable


class IamPasswordPolicy(TypedDict):
    region: Literal["global"]
    present: bool | Unreadable  # False: no policy, IAM's default (any 8+ characters) applies
    minimum_length: int | None
    require_lowercase: bool
    require_uppercase: bool
    require_numbers: bool
    require_symbols: bool
    reuse_prevention: int | None  # how many earlier passwords may not be reused


IAM_POLICIES = Kind("iam_policies", IamPolicy)
IAM_PASSWORD_POLICY = Kind("iam_password_policy", IamPasswordPolicy)
IAM_ROOT = Kind("iam_root", IamRoot)
IAM_ROLES = Kind("iam_roles", IamRole)
IAM_USERS = Kind("iam_users", IamUser)
