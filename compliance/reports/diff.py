"""What moved between two assessments: controls and resources that changed status (drift)."""

from __future__ import annotations

from typing import Any

ORDER = {"FAIL": 0, "ERROR": 1, "WAIVED": 2, "MANUAL": 3, "NOT_APPLICABLE": 4, "PASS": 5}


def _findings(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["id"], f["resource_id"]): f["status"] for c in report["controls"] for f in c["findings"]}


def control_changes(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(control, status before, status after) for every control whose status moved; None where it was not
    assessed. Worst news first (a control now FAIL before one now PASS), then by id."""
    old_status = {c["id"]: c["status"] for c in old["controls"]}
    new_status = {c["id"]: c["status"] for c in new["controls"]}
    changes = [
        (cid, old_status.get(cid), new_status.get(cid))
        for cid in sorted(old_status.keys() | new_status.keys())
        if old_status.get(cid) != new_status.get(cid)
    ]
    return sorted(changes, key=lambda c: 9 if c[2] is None else ORDER[c[2]])


def diff_reports(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One sentence per change, worst news first; empty when nothing moved."""
    lines: list[tuple[int, str]] = []
    for cid, before, after in control_changes(old, new):
        if before is None and after is not None:
            lines.append((ORDER[after], f"control {cid}: new in this assessment, {after}"))
        elif after is None:
            lines.append((9, f"control {cid}: no longer assessed (was {before})"))
        else:
            lines.append((ORDER[after], f"control {cid}: {before} -> {after}"))
    old_f, new_f = _findings(old), _findings(new)
    for key in sorted(old_f.keys() | new_f.keys()):
        cid, resource = key
        before_s, after_s = old_f.get(key), new_f.get(key)
        if before_s == after_s:
            continue
        if before_s is None and after_s is not None:
            lines.append((ORDER[after_s], f"  {cid} {resource}: new resource, {after_s}"))
        elif after_s is None and before_s is not None:
            lines.append((9, f"  {cid} {resource}: gone (was {before_s})"))
        elif after_s is not None:
            lines.append((ORDER[after_s], f"  {cid} {resource}: {before_s} -> {after_s}"))
    return [text for _, text in sorted(lines, key=lambda x: x[0])]
