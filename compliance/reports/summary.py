"""Figures the renderers share, computed from report.json alone."""

from __future__ import annotations

from typing import Any

from compliance.hipaa import PARAGRAPHS, SECTIONS, section_of

STATUSES = ("PASS", "FAIL", "ERROR", "WAIVED", "MANUAL", "NOT_APPLICABLE")
CHART_STATUSES = ("PASS", "FAIL", "ERROR", "WAIVED", "MANUAL")


def by_section(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Per HIPAA section, how many controls citing it have each status (a control counts once per section)."""
    out = {section: dict.fromkeys(STATUSES, 0) for section in SECTIONS}
    for control in report["controls"]:
        for section in sorted({section_of(c) for c in control["hipaa"]}):
            out[section][control["status"]] += 1
    return out


def paragraph_title(citation: str) -> str:
    return PARAGRAPHS.get(citation, "")
