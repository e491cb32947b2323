"""The CrossGuard policy pack, tested the pulumi-policy SDK's way: each policy's validate() called with the
stack's resources as the engine hands them over (properties, URNs and property dependencies, no ids), built
from the example plan and from broken variants of it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError, unknown_checking_proxy

from compliance.assessment import evaluate_control
from compliance.controls import by_id, catalog
from compliance.model import Status
from compliance.policypack.policies import PACK_NAME, plan_evaluable, policies
from compliance.sources.plan import PLAN_CANNOT_KNOW, facts_from_plan
from tests.conftest import VARIANTS, variant_raw

ROOT = Path(__file__).resolve().parents[2]


def engine_view(plan: dict[str, Any], first_preview: bool = False) -> list[PolicyResource]:
    """What the Pulumi engine gives a stack policy: each resource's properties (inputs and known outputs, no
    id), its URN, and for each property the resources it depends on (recovered here from the plan's ids and
    ARNs). first_preview: a new stack, where every output and every value taken from another resource's
    output is unknown, behind the SDK's own unknown-checking proxy."""
    custom = [r for r in plan["resources"] if r["custom"]]
    by_ref = {r["id"]: r["urn"] for r in custom if r.get("id")}
    by_ref |= {r["computed"]["arn"]: r["urn"] for r in custom if isinstance(r.get("computed", {}).get("arn"), str)}
    made: dict[str, PolicyResource] = {}
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    for r in custom:
        deps: dict[str, list[str]] = {}
        props = {**r.get("computed", {}), **r["inputs"]}
        for key, value in props.items():
            if isinstance(value, str) and by_ref.get(value, r["urn"]) != r["urn"]:
                deps[key] = [by_ref[value]]
        if first_preview:
            outputs = set(r.get("computed", {})) - set(r["inputs"])
            props = {k: UNKNOWN_STRING_VALUE if k in outputs or k in deps else v for k, v in props.items()}
            props = unknown_checking_proxy(props)
        made[r["urn"]] = PolicyResource(r["type"], props, r["urn"], r["name"], opts, None, None, [], {})
        made[r["urn"]].property_dependencies = deps  # type: ignore[assignment]  (urns for now)
    for resource in made.values():
        resource.property_dependencies = {
            k: [made[u] for u in urns]  # type: ignore[index]
            for k, urns in resource.property_dependencies.items()
        }
    return list(made.values())


def run(policy: StackValidationPolicy, resources: list[PolicyResource]) -> tuple[list[tuple[str, str | None]], str]:
    violations: list[tuple[str, str | None]] = []
    try:
        policy.validate(StackValidationArgs(resources), lambda message, urn=None: violations.append((message, urn)))
    except Exception as exc:  # the SDK's not-applicable signal
        if type(exc).__name__ != "_NotApplicableError":
            raise
        return violations, f"not applicable: {exc.reason}"  # type: ignore[attr-defined]
    return violations, "evaluated"


@pytest.fixture(scope="module")
def pack() -> dict[str, StackValidationPolicy]:
    return {p.name: p for p in policies()}


def test_every_control_a_plan_can_judge_is_in_the_pack_with_its_hipaa_paragraphs(
    pack: dict[str, StackValidationPolicy],
) -> None:
    expected = [c for c in catalog() if plan_evaluable(c)]
    assert list(pack) == [c.id for c in expected] and len(expected) > 40
    for control in expected:
        policy = pack[control.id]
        assert policy.framework is not None and policy.framework.reference == ", ".join(control.hipaa)
        assert policy.remediation_steps == control.remediation
        mandatory = control.severity in ("critical", "high")
        assert policy.enforcement_level is (EnforcementLevel.MANDATORY if mandatory else EnforcementLevel.ADVISORY)
    left_out = {c.id for c in catalog() if c.automated} - set(pack)
    assert left_out and all(set(c.facts) & set(PLAN_CANNOT_KNOW) for c in catalog() if c.id in left_out)


def test_a_plan_never_holds_what_it_cannot_know(example_plan: dict[str, Any]) -> None:
    assert set(PLAN_CANNOT_KNOW) <= set(facts_from_plan(example_plan).gaps)


def test_the_example_stack_has_no_violations(
    pack: dict[str, StackValidationPolicy], example_plan: dict[str, Any]
) -> None:
    resources = engine_view(example_plan)
    outcomes = {name: run(policy, resources) for name, policy in pack.items()}
    assert {name: v for name, (v, _) in outcomes.items() if v} == {}
    evaluated = [name for name, (_, how) in outcomes.items() if how == "evaluated"]
    assert len(evaluated) > 40, {n: how for n, (_, how) in outcomes.items() if how != "evaluated"}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_pack_agrees_with_phistack_check_on_every_variant(
    pack: dict[str, StackValidationPolicy], planned: Callable[[str], tuple[Any, Any]], example_raw: dict[str, str],
    variant: str,
) -> None:  # fmt: skip
    """Same rules, same reader: a policy reports violations exactly where `phistack check` FAILs the control,
    and is not applicable exactly where check is NOT_APPLICABLE or ERROR (aurora's database, opt-outs...)."""
    plan = planned(variant)[1].to_json(variant_raw(example_raw, variant))
    facts = facts_from_plan(plan)
    resources = engine_view(plan)
    for name, policy in pack.items():
        expected = evaluate_control(by_id()[name], facts, dt.date.today())
        violations, how = run(policy, resources)
        failed = [f.message for f in expected.findings if f.status is Status.FAIL]
        assert sorted(m.split(" Remediation: ")[0] for m, _ in violations) == sorted(failed), (variant, name)
        judged = expected.status in (Status.PASS, Status.FAIL)
        assert (how == "evaluated") == (judged or bool(failed)), (variant, name, how, expected.status)


def test_on_a_new_stacks_first_preview_unknown_ids_skip_a_policy_instead_of_judging_it(
    pack: dict[str, StackValidationPolicy], example_plan: dict[str, Any]
) -> None:
    resources = engine_view(example_plan, first_preview=True)
    with pytest.raises(UnknownValueError):  # the SDK reports this as an advisory "can't run during preview"
        pack["net-flow-logs"].validate(StackValidationArgs(resources), lambda *_: None)


def _broken(plan: dict[str, Any], token: str, change: Any) -> dict[str, Any]:
    out = {**plan, "resources": [dict(r, inputs=dict(r["inputs"])) for r in plan["resources"]]}
    target = next(r for r in out["resources"] if r["type"] == token)
    change(target["inputs"])
    return out


@pytest.mark.parametrize(
    ("control", "token", "change", "words"),
    [
        ("net-subnets-no-public-ip", "aws:ec2/subnet:Subnet", lambda i: i.update(mapPublicIpOnLaunch=True),
         "a public IP"),
        ("ec2-imdsv2-instances", "aws:ec2/instance:Instance",
         lambda i: i.update(metadataOptions={"httpTokens": "optional", "httpPutResponseHopLimit": 1}), "IMDSv1"),
        ("ec2-no-public-ip", "aws:ec2/instance:Instance", lambda i: i.update(associatePublicIpAddress=True),
         "public IP"),
        ("kms-rotation", "aws:kms/key:Key", lambda i: i.update(enableKeyRotation=False), "rotation"),
    ],
)  # fmt: skip
def test_a_broken_variant_is_a_violation_naming_the_resource_and_the_fix(
    pack: dict[str, StackValidationPolicy], example_plan: dict[str, Any], control: str, token: str, change: Any,
    words: str,
) -> None:  # fmt: skip
    violations, how = run(pack[control], engine_view(_broken(example_plan, token, change)))
    assert how == "evaluated" and violations, how
    message, urn = violations[0]
    assert words in message and "Remediation:" in message
    assert urn is not None and urn.startswith("urn:pulumi:")


def test_waivers_apply_as_they_do_for_phistack_check(
    pack: dict[str, StackValidationPolicy], example_plan: dict[str, Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    broken = engine_view(_broken(example_plan, "aws:kms/key:Key", lambda i: i.update(enableKeyRotation=False)))
    violations, _ = run(pack["kms-rotation"], broken)
    assert violations
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - control: kms-rotation\n    resource: '*'\n    justification: test\n"
        "    approver: ciso@clinic.example\n    expires: 2099-01-01\n"
    )
    monkeypatch.setenv("PHISTACK_WAIVERS", str(waivers))
    assert run(pack["kms-rotation"], broken)[0] == []


def test_the_pack_serves_the_policy_analyzer_protocol_the_pulumi_cli_speaks() -> None:
    """`pulumi preview --policy-pack compliance/policypack` runs __main__.py and reads the port it prints; here
    the same process answers GetAnalyzerInfo over gRPC with every policy."""
    import grpc
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2_grpc

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "compliance" / "policypack" / "__main__.py")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = analyzer_pb2_grpc.AnalyzerStub(channel).GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        assert info.name == PACK_NAME
        assert [p.name for p in info.policies] == [p.name for p in policies()]
    finally:
        server.kill()
        server.wait()
