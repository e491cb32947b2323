"""The control catalog as a Pulumi CrossGuard policy pack: one stack validation policy per control a plan can
judge, generated from the catalog (the rules live only in compliance/controls), for `pulumi preview --policy-pack
compliance/policypack`.

Each policy turns the stack's resources into the same plan document `phistack plan` writes, reads it with the
same plan reader, and evaluates its control: FAIL findings become violations whose message carries the
control's remediation; waivers (PHISTACK_WAIVERS, the file `phistack check --waivers` reads) apply as they do
there. Critical and high controls are mandatory, the others advisory. A control the plan cannot judge (its
status NOT_APPLICABLE or ERROR) is reported as not applicable, with the reason, never as compliant.
During the first preview of a new stack, values not known yet (ids AWS has not assigned) make the SDK skip the
policy with an advisory note rather than have it judge a half-known stack."""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyResource,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from compliance.assessment import evaluate_control
from compliance.controls import by_id, catalog
from compliance.model import Control, Status
from compliance.sources.plan import PLAN_CANNOT_KNOW, facts_from_plan
from compliance.waivers import Waiver, apply_waivers, load_waivers

PACK_NAME = "phistack-hipaa"
FRAMEWORK = "HIPAA Security Rule (45 CFR Part 164, Subpart C)"
MANDATORY = ("critical", "high")
_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]*):(\d{12}):")


def plan_evaluable(control: Control) -> bool:
    """Automated, and reading nothing a plan can never know (snapshots, IAM users, installed hosts, ...)."""
    return control.automated and not set(control.facts) & set(PLAN_CANNOT_KNOW)


def _plain(value: Any) -> Any:
    """The SDK's read-only proxies as plain JSON values. A value not known yet (a new stack's ids, during its
    first preview) raises the SDK's UnknownValueError: the SDK then skips the policy with an advisory note,
    rather than have it judge a half-known stack."""
    if isinstance(value, Mapping):
        return {str(k): _plain(value[k]) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(value[i]) for i in range(len(value))]
    return value


def _references(resources: list[PolicyResource], props: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Each resource's id and ARN as the resources that reference it hold them. Policies are not given ids, but
    a property that depends on exactly one resource (a route table's vpcId on its VPC) holds that resource's
    id, or its ARN."""
    found: dict[str, dict[str, str]] = {}
    for r in resources:
        for key, deps in r.property_dependencies.items():
            value = props[r.urn].get(key)
            if len(deps) == 1 and isinstance(value, str) and (key.endswith(("Id", "Arn")) or key == "arn"):
                kind = "arn" if value.startswith("arn:") else "id"
                found.setdefault(deps[0].urn, {}).setdefault(kind, value)
    return found


def _where(resources: list[dict[str, Any]]) -> tuple[str, str]:
    """The stack's region and account, from the ARNs its resources carry (the plan reader needs both)."""
    for r in resources:
        for value in (r["inputs"].get("arn"), r["inputs"].get("keyArn")):
            found = _ARN.match(value) if isinstance(value, str) else None
            if found and found.group(1):
                return found.group(1), found.group(2)
    regions = [r["inputs"]["region"] for r in resources if isinstance(r["inputs"].get("region"), str)]
    return (regions[0] if regions else "us-east-1"), "000000000000"


def plan_of(resources: list[PolicyResource]) -> dict[str, Any]:
    """The plan document (as `phistack plan` writes it) of the resources a policy is given."""
    props = {r.urn: _plain(r.props) for r in resources}
    refs = _references(resources, props)
    out = []
    for r in resources:
        mine, known = props[r.urn], refs.get(r.urn, {})
        if "arn" not in mine and "arn" in known:
            mine["arn"] = known["arn"]
        rid = known.get("id") or mine.get("id") or mine.get("arn") or r.name
        custom = not r.resource_type.startswith("phistack:")  # components are not cloud resources
        out.append(
            {"urn": r.urn, "type": r.resource_type, "name": r.name, "custom": custom, "id": rid, "inputs": mine,
             "computed": {}}
        )  # fmt: skip
    region, account = _where(out)
    return {"config": {"aws:region": region, "phistack:account_id": account}, "resources": out, "outputs": {}}


def _waivers() -> list[Waiver]:
    path = os.environ.get("PHISTACK_WAIVERS")
    return list(_waivers_in(path)) if path else []


@functools.lru_cache(maxsize=4)
def _waivers_in(path: str) -> tuple[Waiver, ...]:
    """One read of the waiver file per preview, not one per policy (the pack's policies all consult it)."""
    return tuple(load_waivers(Path(path), set(by_id())))


def _validator(control: Control) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        plan = plan_of(args.resources)
        result = evaluate_control(control, facts_from_plan(plan), dt.date.today())
        apply_waivers(control.id, result.findings, _waivers(), set())
        failed = [f for f in result.findings if f.status is Status.FAIL]
        if result.status in (Status.NOT_APPLICABLE, Status.ERROR) and not failed:
            args.not_applicable(f"{result.status.value}: {result.note or 'nothing this control reads is declared'}")
        urns = {r["id"]: r["urn"] for r in plan["resources"]} | {r["name"]: r["urn"] for r in plan["resources"]}
        for finding in failed:
            tail = finding.resource_id.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            urn = urns.get(finding.resource_id) or urns.get(tail)
            message = f"{finding.message} Remediation: {control.remediation}"
            report_violation(message, urn) if urn else report_violation(message, None)

    return validate


def policies() -> list[StackValidationPolicy]:
    """One policy per plan-evaluable control, in catalog order."""
    return [
        StackValidationPolicy(
            name=c.id,
            description=c.title,
            validate=_validator(c),
            enforcement_level=EnforcementLevel.MANDATORY if c.severity in MANDATORY else EnforcementLevel.ADVISORY,
            severity=Severity(c.severity),
            framework=PolicyComplianceFramework(
                name=FRAMEWORK, version="2013", reference=", ".join(c.hipaa), specification=c.rationale
            ),
            tags=["hipaa", *c.hipaa],
            remediation_steps=c.remediation,
        )
        for c in catalog()
        if plan_evaluable(c)
    ]
