"""Figures the renderers share, computed from report.json alone."""

from __future__ import annotations

from typing import Any

from compliance.hipaa import PARAGRAPHS, SECTIONS, section_of

STATUSES = ("PASS", "FAIL", "ERROR", "WAIVED", "MANUAL", "NOT_APPLICABLE")
CHART_STATUSES = ("PASS", "FAIL", "ERROR", "WAIVED", "MANUAL")


def unjudged(controls: list[dict[str, Any]]) -> int:
    """Controls not wholly judged: ERROR, or a FAIL beside findings that are ERROR (what those resources are is
    unknown, so the control's verdict is incomplete too)."""
    return sum(
        1 for c in controls if c["status"] == "ERROR" or any(f["status"] == "ERROR" for f in c.get("findings", []))
    )


def incomplete_line(n: int) -> str | None:
    """The sentence every output leads with while ``n`` controls could not be judged (None when every one was):
    an audit that could not judge something is never presented as clean."""
    return f"incomplete: {n} control{'s' if n != 1 else ''} could not be judged" if n else None


def by_section(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per HIPAA section, how many controls citing it have each status (a control counts once per section)."""
    out = {section: dict.fromkeys(STATUSES, 0) for section in SECTIONS}
    for control in report["controls"]:
        for section in sorted({section_of(c) for c in control["hipaa"]}):
            out[section][control["status"]] += 1
    return out


def paragraph_title(citation: str) -> str:
    return PARAGRAPHS.get(citation, "")
