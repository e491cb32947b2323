"""Run the catalog over facts and produce the canonical report (``report.json``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compliance.controls.manual import ATTESTATION_KEYS
from compliance.facts import Facts, FactsUnavailable
from compliance.model import Control, ControlResult, Finding, Status, aggregate
from compliance.waivers import Waiver, apply_waivers

log = logging.getLogger(__name__)
SCHEMA = "phistack/assessment/v1"
STALE_AFTER_DAYS = 365  # risk analysis, training and contingency tests are yearly at least


@dataclass
class Assessment:
    facts: Facts
    results: list[ControlResult]
    generated_at: dt.datetime
    tool_version: str
    unused_waivers: list[Waiver] = field(default_factory=list)
    collection: dict[str, Any] = field(default_factory=dict)  # live scans: API calls made, seconds taken

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(r.status.value for r in self.results)
        return {s.value: counts.get(s.value, 0) for s in Status}

    @property
    def failed(self) -> bool:
        return any(r.status is Status.FAIL for r in self.results)

    @property
    def unjudged(self) -> int:
        """Controls not wholly judged (ERROR, or a FAIL beside unwaived ERROR findings): while any remain, the audit
        is incomplete."""
        return sum(
            1 for r in self.results if r.status is Status.ERROR or any(f.status is Status.ERROR for f in r.findings)
        )

    def to_json(self) -> dict[str, Any]:
        f = self.facts
        return {
            "schema": SCHEMA,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "tool": {"name": "phistack", "version": self.tool_version},
            "target": {"kind": f.source, "account": f.account, "regions": f.regions, "client": f.context.client},
            "summary": self.summary,
            "controls": [r.to_json() for r in self.results],
            "unused_waivers": [w.to_json() for w in self.unused_waivers],
            "gaps": {k: {"reason": g.reason, "status": g.status, "api": g.api} for k, g in sorted(f.gaps.items())},
            "collection": self.collection,
        }


def _manual(control: Control, facts: Facts, today: dt.date) -> ControlResult:
    key = ATTESTATION_KEYS[control.id]
    attested = facts.context.attestations.get(key)
    rid = f"{facts.account}/attestation/{key}"
    if not attested:
        return ControlResult(
            control,
            Status.MANUAL,
            [],
            note=f"Not attested (attestations.{key} is unset). Ask for: {control.manual_evidence}",
        )
    when = dt.date.fromisoformat(str(attested))
    age = (today - when).days
    yearly = key not in ("baa_aws_signed", "baa_client_signed")
    if yearly and age > STALE_AFTER_DAYS:
        finding = Finding(
            Status.FAIL,
            rid,
            "phistack::Attestation",
            f"{control.title} was attested for {when}, {age} days ago: older than a year.",
            "global",
            {"attestation": key, "date": when.isoformat()},
        )
    else:
        finding = Finding(
            Status.PASS,
            rid,
            "phistack::Attestation",
            f"The client attested on {when} (attestations.{key}); phistack cannot verify it: "
            f"ask for {control.manual_evidence[0].lower()}{control.manual_evidence[1:]}",
            "global",
            {"attestation": key, "date": when.isoformat()},
        )
    return ControlResult(control, finding.status, [finding])


def evaluate_control(control: Control, facts: Facts, today: dt.date) -> ControlResult:
    if control.evaluate is None:
        return _manual(control, facts, today)
    try:
        findings = list(control.evaluate(facts))
    except FactsUnavailable as missing:
        status = Status(missing.gap.status)
        api = f" ({missing.gap.api})" if missing.gap.api else ""
        verb = "could not be evaluated" if status is Status.ERROR else "does not apply here"
        return ControlResult(
            control, status, [], note=f"{control.id} {verb}: {missing.kind}{api}: {missing.gap.reason}"
        )
    except Exception as exc:  # noqa: BLE001 - a fact this control did not foresee: ERROR, never a crash or a verdict
        log.warning("control %s failed on its facts: %s", control.id, type(exc).__name__)
        return ControlResult(
            control,
            Status.ERROR,
            [],
            note=f"{control.id} could not be evaluated: it failed on a fact it did not foresee ({type(exc).__name__}); "
            "please report it.",
        )
    if not findings:
        return ControlResult(
            control,
            Status.NOT_APPLICABLE,
            [],
            note=f"Nothing to check: no resources of the kinds it reads ({', '.join(control.facts)}).",
        )
    return ControlResult(control, aggregate(findings), findings)


def assess(
    facts: Facts,
    controls: tuple[Control, ...],
    waivers: list[Waiver],
    tool_version: str,
    now: dt.datetime | None = None,
) -> Assessment:
    now = now or dt.datetime.now(dt.UTC)
    used: set[int] = set()
    results = []
    for control in controls:
        result = evaluate_control(control, facts, now.date())
        if waivers and result.findings:
            apply_waivers(control.id, result.findings, waivers, used)
            result.status = aggregate(result.findings)
        results.append(result)
    unused = [w for i, w in enumerate(waivers) if i not in used]
    return Assessment(facts, results, now, tool_version, unused)


def write_report(assessment: Assessment, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(assessment.to_json(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
