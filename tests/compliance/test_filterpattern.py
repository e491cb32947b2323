"""CloudWatch Logs filter patterns evaluated against events (compliance/controls/_filterpattern.py), with the
semantics AWS documents for JSON and term patterns."""

from __future__ import annotations

import pytest

from compliance.controls._filterpattern import MAX_DEPTH, PatternError, matches
from infra.alarms import SECURITY_ALARMS

ROOT_CALL = {"userIdentity": {"type": "Root"}, "eventType": "AwsApiCall", "eventName": "ListBuckets"}
EVENT = {
    "eventName": "CreateNetworkAclEntry",
    "eventSource": "ec2.amazonaws.com",
    "errorCode": "Client.UnauthorizedOperation",
    "userIdentity": {"type": "IAMUser", "sessionContext": {"attributes": {"mfaAuthenticated": "false"}}},
    "requestParameters": {"ruleNumber": 100, "egress": False, "ports": [22, 443]},
    "additionalEventData": None,
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{ $.eventName = CreateNetworkAclEntry }", True),
        ('{ $.eventName = "CreateNetworkAclEntry" }', True),
        ("{ $.eventName = CreateNetworkAcl }", False),  # equality, not a substring
        ("{ $.eventName = Create* }", True),
        ("{ $.eventName = *AclEntry }", True),
        ("{ $.eventName = C?eate* }", False),  # only * is a wildcard
        ("{ $.eventName != CreateVpc }", True),
        ("{ $.missing != CreateVpc }", False),  # a comparison needs the field
        ("{ $.missing NOT EXISTS }", True),
        ("{ $.eventName NOT EXISTS }", False),
        ("{ $.eventName EXISTS }", True),
        ("{ $.additionalEventData IS NULL }", True),
        ("{ $.requestParameters.egress IS FALSE }", True),
        ("{ $.requestParameters.egress IS TRUE }", False),
        ("{ $.requestParameters.ruleNumber >= 100 }", True),
        ("{ $.requestParameters.ruleNumber < 100 }", False),
        ("{ $.requestParameters.ruleNumber = 100 }", True),
        ("{ $.requestParameters.ports[1] = 443 }", True),
        ("{ $.requestParameters.ports[5] = 443 }", False),
        ('{ $.userIdentity.sessionContext.attributes.mfaAuthenticated = "false" }', True),
        ("{ ($.eventName = CreateVpc) || ($.eventName = CreateNetworkAclEntry) }", True),
        ("{ ($.eventName = CreateVpc) && ($.eventName = CreateNetworkAclEntry) }", False),
        # && binds tighter than ||: (A && B) || C
        ("{ $.eventName = CreateVpc && $.eventSource = x || $.eventSource = ec2.amazonaws.com }", True),
        ("{ $.eventName = CreateVpc && ($.eventSource = x || $.eventSource = ec2.amazonaws.com) }", False),
        ('"UnauthorizedOperation" CreateNetworkAclEntry', True),
        ('"UnauthorizedOperation" CreateVpc', False),
        ("?CreateVpc ?CreateNetworkAclEntry", True),
        ("?CreateVpc ?DeleteVpc", False),
        ("CreateNetworkAclEntry -UnauthorizedOperation", False),
        ("", True),  # the empty pattern matches every event
    ],
)
def test_a_pattern_matches_what_cloudwatch_would(pattern: str, expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        "{ $.eventName = CreateVpc",
        "{ ($.eventName = CreateVpc }",
        "{ $.eventName CreateVpc }",
        "{ eventName = CreateVpc }",
        "{ $.eventName = }",
        "{ $.n > many }",
        "[ip, user, timestamp]",
        "{ $.a = 1 } junk",
        "{ " + "(" * (MAX_DEPTH + 1) + "$.a = 1" + ")" * (MAX_DEPTH + 1) + " }",
        "x" * 5000,
    ],
)
def test_a_pattern_it_cannot_read_is_an_error_not_a_guess(pattern: str) -> None:
    with pytest.raises(PatternError):
        matches(pattern, EVENT)


def test_the_stacks_own_root_pattern_catches_root_calls_but_not_service_events() -> None:
    (root,) = [a.pattern for a in SECURITY_ALARMS if a.name == "root-account-usage"]
    assert matches(root, ROOT_CALL)
    assert not matches(root, {**ROOT_CALL, "eventType": "AwsServiceEvent"})
    assert not matches(root, {**ROOT_CALL, "userIdentity": {"type": "Root", "invokedBy": "support.amazonaws.com"}})
    assert not matches(root, {**ROOT_CALL, "userIdentity": {"type": "IAMUser"}})
