"""Controls, findings and results: the vocabulary of an assessment.

A control is metadata (id, title, severity, HIPAA paragraphs, rationale, remediation, the facts it reads
and the AWS permissions its collectors need) beside one pure function, ``evaluate(facts) -> findings``.
Controls never call AWS. When a fact a control reads could not be collected, the control's result is
ERROR (live) or NOT_APPLICABLE (a plan cannot know it), with the reason; never PASS or FAIL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from compliance.facts import Facts

Severity = Literal["critical", "high", "medium", "low"]
SEVERITY_ORDER: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3}


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    WAIVED = "WAIVED"
    MANUAL = "MANUAL"
    NOT_APPLICABLE = "NOT_APPLICABLE"


@dataclass
class Finding:
    """One resource's outcome for one control. ``message`` is a full sentence naming the resource."""

    status: Status
    resource_id: str
    resource_type: str  # CloudFormation type name, e.g. AWS::S3::Bucket
    message: str
    region: str = "global"
    evidence: dict[str, Any] = field(default_factory=dict)
    waiver: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "resource_id": self.resource_id,
            "resource_type": self.resource_type,
            "region": self.region,
            "status": self.status.value,
            "message": self.message,
            "evidence": self.evidence,
        }
        if self.waiver is not None:
            out["waiver"] = self.waiver
        return out


Evaluate = Callable[["Facts"], Iterable[Finding]]


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    severity: Severity
    hipaa: tuple[str, ...]
    rationale: str
    remediation: str
    facts: tuple[str, ...]  # fact kinds read; a missing one makes the result ERROR / NOT_APPLICABLE
    permissions: tuple[str, ...]  # AWS API permissions the collectors of those facts need
    evaluate: Evaluate | None = None  # None: a manual control, answered by attestation
    manual_evidence: str = ""  # manual controls: what an auditor should ask for

    @property
    def automated(self) -> bool:
        return self.evaluate is not None


@dataclass
class ControlResult:
    control: Control
    status: Status
    findings: list[Finding]
    note: str = ""  # why ERROR / NOT_APPLICABLE / MANUAL, when no finding says it

    def to_json(self) -> dict[str, Any]:
        c = self.control
        out: dict[str, Any] = {
            "id": c.id,
            "title": c.title,
            "severity": c.severity,
            "hipaa": list(c.hipaa),
            "status": self.status.value,
            "automated": c.automated,
            "rationale": c.rationale,
            "remediation": c.remediation,
            "permissions": list(c.permissions),
            "findings": [f.to_json() for f in self.findings],
        }
        if self.note:
            out["note"] = self.note
        if not c.automated:
            out["evidence_to_request"] = c.manual_evidence
        return out


def aggregate(findings: list[Finding]) -> Status:
    """A control's status from its findings: any FAIL, else any ERROR, else any WAIVED (a waived failure
    stays visible), else PASS."""
    statuses = {f.status for f in findings}
    if not statuses:
        return Status.NOT_APPLICABLE
    for status in (Status.FAIL, Status.ERROR, Status.WAIVED, Status.PASS, Status.MANUAL):
        if status in statuses:
            return status
    return Status.NOT_APPLICABLE
