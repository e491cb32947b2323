"""What moved between two assessments: controls and resources that changed status (drift)."""

from __future__ import annotations

from typing import Any

ORDER = {"FAIL": 0, "ERROR": 1, "WAIVED": 2, "MANUAL": 3, "NOT_APPLICABLE": 4, "PASS": 5}


def _findings(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(c["id"], f["resource_id"]): f["status"] for c in report["controls"] for f in c["findings"]}


def diff_reports(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One sentence per change, worst news first; empty when nothing moved."""
    lines: list[tuple[int, str]] = []
    old_controls = {c["id"]: c for c in old["controls"]}
    new_controls = {c["id"]: c for c in new["controls"]}
    for cid in sorted(old_controls.keys() | new_controls.keys()):
        before, after = old_controls.get(cid), new_controls.get(cid)
        if before is None and after is not None:
            lines.append((ORDER[after["status"]], f"control {cid}: new in this assessment, {after['status']}"))
        elif after is None and before is not None:
            lines.append((9, f"control {cid}: no longer assessed (was {before['status']})"))
        elif before is not None and after is not None and before["status"] != after["status"]:
            lines.append((ORDER[after["status"]], f"control {cid}: {before['status']} -> {after['status']}"))
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
